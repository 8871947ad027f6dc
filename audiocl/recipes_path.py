"""Where the bundled recipes are, and how a recipe argument becomes a file."""

from __future__ import annotations

from pathlib import Path

RECIPES = Path(__file__).resolve().parent / "recipes"


def bundled_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else the bundled recipe of that name (``clmr_tiny``, ``clmr_tiny.yaml`` or
    ``recipes/clmr_tiny.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    # A bare name, or recipes/NAME.yaml as the README writes it, also finds the bundled recipe when run from
    # outside the repository (e.g. after a plain pip install).
    bundled = RECIPES / f"{path.stem}.yaml"
    if path.parent in (Path("."), Path("recipes")) and bundled.is_file():
        return bundled
    raise FileNotFoundError(
        f"recipe not found: {name_or_path}. Bundled recipes: {', '.join(bundled_recipes()) or 'none'}"
    )
