import pytest

from audiocl.config import RecipeError, load_recipe
from audiocl.recipes_path import RECIPES
from audiocl.resume import TAKEABLE, check_resume, recipe_changes


def recipe(*overrides):
    return load_recipe(RECIPES / "clmr_tiny.yaml", list(overrides))


def test_changes_are_dotted_keys_and_output_dir_is_not_one():
    old, new = recipe(), recipe("optim.lr=0.5", "output_dir=elsewhere", "branches.0.head.out_dim=8")
    assert recipe_changes(old, new) == {"optim.lr": (1e-3, 0.5), "branches.0.head.out_dim": (16, 8)}
    assert recipe_changes(old, recipe("output_dir=x")) == {}


def test_a_change_must_be_taken_and_takeable():
    old = recipe()
    with pytest.raises(RecipeError, match=r"optim.lr: 0.001 -> 0.5.*--take-changes optim.lr"):
        check_resume(old, recipe("optim.lr=0.5"), [], "last.ckpt")
    assert check_resume(old, recipe("optim.lr=0.5", "trainer.max_steps=9"), ["optim.lr", "trainer"], "x") == {
        "optim.lr": (1e-3, 0.5),
        "trainer.max_steps": (20, 9),
    }
    with pytest.raises(RecipeError, match="data.batch_size cannot change in a resumed run"):
        check_resume(old, recipe("data.batch_size=6"), ["data"], "last.ckpt")
    assert all(key.count(".") <= 1 for key in TAKEABLE)
