"""The images lock: `<topology>.lock.json` beside the topology, written by `pdcompose images push`.

It records the image ID each image reference had when it was copied to the hosts. The planner pins
those images (pull_policy: never, the ID as a label) and deploy refuses a host whose image behind
the same tag has another ID. Commit it with the topology, like any lock file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pdcompose.errors import Issue, TopologyError

IMAGE_ID = r"^sha256:[0-9a-f]{64}$"


class ImagesLock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("written by `pdcompose images push`; commit it with the topology", alias="//")
    images: dict[str, str] = Field(default_factory=dict, description="image reference -> image ID")

    def ids(self) -> dict[str, str]:
        return dict(self.images)


def lock_path(topology: Path) -> Path:
    return topology.with_name(f"{topology.stem}.lock.json")


def read_lock(topology: Path) -> dict[str, str]:
    path = lock_path(topology)
    if not path.is_file():
        return {}
    try:
        lock = ImagesLock.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise TopologyError([Issue("lock-invalid", "", f"not an images lock: {exc.errors()[0]['msg']}; delete it "
                                   "and run `pdcompose images push` again", "error", str(path))]) from None
    bad = [ref for ref, image_id in lock.images.items() if not re.fullmatch(IMAGE_ID, image_id)]
    if bad:
        raise TopologyError([Issue("lock-invalid", "", f"{bad[0]}: not an image ID (sha256:<64 hex>)", "error",
                                   str(path))])
    return lock.ids()


def write_lock(topology: Path, ids: dict[str, str]) -> Path:
    path = lock_path(topology)
    text = json.dumps(ImagesLock(images=dict(sorted(ids.items()))).model_dump(by_alias=True), indent=2) + "\n"
    from pdcompose.files import write_file

    return write_file(path, text)
