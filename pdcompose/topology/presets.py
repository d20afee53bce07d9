"""Hardware profiles and model recipes: data files shipped in `pdcompose/presets/`.

A topology names a preset (`recipe: deepseek-r1-gb200`, `profile: gb200`) or gives a path to its own
file (`recipe: ./my-recipe.yaml`, relative to the topology). Recipes may `extends:` another recipe.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, PlainValidator, ValidationError

from pdcompose import suggest
from pdcompose.arch import Arch
from pdcompose.errors import Issue, TopologyError
from pdcompose.frozen import Strict
from pdcompose.hardware import Requirement
from pdcompose.topology.models import Parallel
from pdcompose.topology.secrets import literal_issues
from pdcompose.topology.source import load_yaml
from pdcompose.topology.types import Args, Env, EnvName

M = TypeVar("M", bound=Strict)

PRESETS = Path(__file__).resolve().parent.parent / "presets"


class Profile(Strict):
    description: str
    arch: Arch | None = None       # CPU architecture, Docker's name (amd64, arm64); images must match it
    gpus_per_host: Annotated[int, Field(ge=0, le=64)] | None = None
    gpu_driver: str | None = None
    ipc: Literal["host"] | None = None
    cap_add: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    ulimits: dict[str, int] = Field(default_factory=dict)
    requires: list[Requirement] = Field(default_factory=list)
    recommend_env: list[EnvName] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)


def _version_range(value: object) -> str:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        if not isinstance(value, str):
            raise TypeError(value)
        SpecifierSet(value)  # raises on anything but a specifier string
    except (InvalidSpecifier, TypeError):
        raise ValueError(f"{value!r} is not a version range such as \">=0.13.0\" or \">=0.13,<0.15\"") from None
    return value


VersionRange = Annotated[str, PlainValidator(_version_range)]


class RecipeRole(Strict):
    args: Args = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)


class RecipeRouter(Strict):
    policy: str | None = None
    max_concurrent_requests: int | None = None


class TunedFor(Strict):
    """The hardware a recipe was tuned on, and which of its settings will not fit other hardware."""

    profiles: list[str] = Field(min_length=1)
    settings: dict[str, str] = Field(default_factory=dict)   # "env.NAME" | "args.NAME" | "model" -> why


class Recipe(Strict):
    description: str = ""
    extends: str | None = None
    model: str | None = None
    profile: str | None = None
    mla: bool | None = None
    vllm: VersionRange | None = None   # the vLLM releases the recipe was written for, e.g. ">=0.13.0"
    tuned_for: TunedFor | None = None
    tp: Parallel | None = None
    args: Args = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)
    prefill: RecipeRole = Field(default_factory=RecipeRole)
    decode: RecipeRole = Field(default_factory=RecipeRole)
    router: RecipeRouter = Field(default_factory=RecipeRouter)


def builtin(kind: Literal["profiles", "recipes"]) -> list[str]:
    return sorted(p.stem for p in (PRESETS / kind).glob("*.yaml"))


def load_profile(ref: str, base_dir: Path) -> Profile:
    return _load("profiles", ref, base_dir, Profile)


def load_recipe_chain(ref: str, base_dir: Path) -> list[Recipe]:
    """The recipe and its ancestors, root first: later entries override earlier ones."""
    chain: list[Recipe] = []
    seen: list[str] = []
    at: str | None = ref
    while at is not None:
        if at in seen:
            raise TopologyError([Issue("recipe-cycle", "recipe", f"recipes extend each other in a cycle: "
                                       f"{' -> '.join([*seen, at])}")])
        seen.append(at)
        recipe = _load("recipes", at, base_dir, Recipe)
        chain.insert(0, recipe)
        at = recipe.extends
    return chain


def _load(kind: Literal["profiles", "recipes"], ref: str, base_dir: Path, model: type[M]) -> M:
    path = _resolve(kind, ref, base_dir)
    parsed: M = _parse(path, str(path) if _is_path(ref) else f"<{kind[:-1]} {ref}>", model)  # @cache erases M
    return parsed


@cache
def _parse(path: Path, display: str, model: type[M]) -> M:
    source = load_yaml(path, display)
    issues = literal_issues(source)      # a recipe's env is written into compose.yaml like the topology's
    try:
        parsed = model.model_validate(source.data)
    except ValidationError as exc:
        issues += [source.issue("preset-invalid", tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    if issues:
        raise TopologyError(issues)
    return parsed


def _is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".yaml", ".yml"))


def _resolve(kind: Literal["profiles", "recipes"], ref: str, base_dir: Path) -> Path:
    if _is_path(ref):
        if "\x00" in ref:               # os calls refuse NUL (ValueError, not OSError)
            raise PresetNotFound(kind, ref, "a path cannot contain a NUL byte")
        path = (base_dir / ref).resolve()
        try:
            found = path.is_file()
        except OSError as exc:          # a name too long for the filesystem, a folder we may not read
            raise PresetNotFound(kind, ref, f"cannot read {path}: {exc.strerror}") from None
        if not found:
            raise PresetNotFound(kind, ref, f"no such file: {path}")
        return path
    known = builtin(kind)
    if ref not in known:                # a name, not a path: one of ours or nothing (never stat'ed)
        hint = suggest.did_you_mean(ref, known)
        hint = f"{hint} " if hint else ""
        raise PresetNotFound(kind, ref, f"unknown {kind[:-1]} '{ref}'; {hint}built-in: {', '.join(known)} "
                                        f"(or give a path to your own YAML file)")
    return PRESETS / kind / f"{ref}.yaml"


class PresetNotFound(Exception):
    """Raised with the message; the validator attaches the topology field and line."""

    def __init__(self, kind: str, ref: str, message: str):
        self.kind, self.ref = kind, ref
        super().__init__(message)
