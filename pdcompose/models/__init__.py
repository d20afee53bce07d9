"""Model weights on every host: what each HF cache holds, and copying/downloading the pinned revision."""
