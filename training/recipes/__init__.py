"""Training recipes: JSON files of every knob, `default.json` naming them all; others extend it."""

import copy
import json
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent
DEFAULT_RECIPE = RECIPES_DIR / "default.json"


class RecipeError(ValueError):
    """A recipe names an unknown knob, gives a bad value or cannot be found."""


def _read(path):
    """Parse one recipe file, resolving a bare name (`mim`) to `training/recipes/mim.json`."""
    path = Path(path)
    if not path.is_file() and (RECIPES_DIR / path.with_suffix(".json").name).is_file():
        path = RECIPES_DIR / path.with_suffix(".json").name
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found (recipes live in {RECIPES_DIR})")
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RecipeError(f"recipe {path} is not valid JSON: {error}") from error


def merge(base, update, where=""):
    """Deep-merge `update` into a copy of `base`; a key `base` lacks is an error (a typo)."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if key not in base:
            raise RecipeError(f"unknown recipe key {where}{key!r}; known keys here: "
                              f"{sorted(base)} (see {DEFAULT_RECIPE})")
        if isinstance(base[key], dict) and isinstance(value, dict):
            merged[key] = merge(base[key], value, f"{where}{key}.")
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolve(path, seen=()):
    """A recipe merged over the recipe it `extends` (recursively; default.json at the root)."""
    path, data = _read(path)
    if path.resolve() in seen:
        raise RecipeError(f"recipe {path} extends itself in a loop")
    parent = data.get("extends")
    if parent is None:
        if path.resolve() == DEFAULT_RECIPE.resolve():
            return data
        parent = DEFAULT_RECIPE
    parent_path = Path(parent) if Path(parent).is_absolute() else path.parent / parent
    return merge(_resolve(parent_path, (*seen, path.resolve())), data)


def parse_override(text):
    """`a.b=value` -> (["a", "b"], value); the value is JSON when it parses, else a string."""
    if "=" not in text:
        raise RecipeError(f"override {text!r} must look like section.key=value")
    dotted, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return dotted.strip().split("."), value


def apply_override(recipe, text):
    """Set one dotted key of a recipe from `section.key=value` (the key must exist)."""
    keys, value = parse_override(text)
    update = value
    for key in reversed(keys):
        update = {key: update}
    return merge(recipe, update)


def load_recipe(path=DEFAULT_RECIPE, overrides=()):
    """Load a recipe with its `extends` chain and `section.key=value` overrides applied.

    Args:
        path: a recipe file, or the bare name of one in `training/recipes/`.
        overrides: strings such as `optim.epochs=5` or `objectives.mim.weight=0.5`.
    """
    recipe = _resolve(path)
    for text in overrides:
        recipe = apply_override(recipe, text)
    return recipe
