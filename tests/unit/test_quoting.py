"""The quoting filter: any text survives YAML parsing unchanged (modulo Compose's `$$` escape)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pdcompose.plan.models import SecretRef
from pdcompose.render.quoting import q

yaml = YAML(typ="safe", pure=True)
# Any Unicode scalar except surrogates (which UTF-8 text cannot carry, so a topology cannot either)
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)


@settings(max_examples=500, deadline=None)
@given(TEXT)
def test_any_text_parses_back(value: str):
    parsed = yaml.load(f"k: {q(value)}\n")["k"]
    assert parsed == value.replace("$", "$$")


def test_examples():
    for value in ['{"kv_connector":"NixlConnector"}', "it's", 'say "hi"', "C:\\path\\", "$HOME ${X}",
                  "line\nbreak", "tab\there", "ünïcödé ✓ 🚀", "\u2028\u0085\ufeff", "- not a list", "null", "08"]:
        assert yaml.load(f"k: {q(value)}\n")["k"] == value.replace("$", "$$")


def test_numbers_and_booleans_stay_typed():
    assert q(8087) == "8087" and q(True) == "true" and q(-1) == "-1"


def test_secret_is_the_only_interpolation():
    assert q(SecretRef(from_env="HF_TOKEN")).startswith('"${HF_TOKEN:?')
