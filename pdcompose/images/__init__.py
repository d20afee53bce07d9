"""Images without a registry: which host has which image ID, and copying them there (save/load)."""

from pdcompose.images.inventory import Inventory, inventory
from pdcompose.images.push import PushReport, push, update_lock

__all__ = ["Inventory", "PushReport", "inventory", "push", "update_lock"]
