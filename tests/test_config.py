import pytest
import yaml

from audiocl.config import Recipe, RecipeError, apply_overrides, load_recipe, save_recipe


def write(tmp_path, data) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_defaults_round_trip(tmp_path):
    recipe = Recipe()
    save_recipe(recipe, tmp_path / "out.yaml")
    assert load_recipe(tmp_path / "out.yaml") == recipe


def test_overrides_are_typed_yaml(tmp_path):
    path = write(tmp_path, {"name": "x"})
    recipe = load_recipe(
        path,
        [
            "trainer.max_steps=20",
            "trainer.progress_bar=false",
            "optim.lr=3e-4",
            "data.root=/data/mtat",
            "branches.0.head.hidden_dims=[256, 128]",
            "trainer.devices=2",
        ],
    )
    assert recipe.trainer.max_steps == 20
    assert recipe.trainer.progress_bar is False
    assert recipe.optim.lr == pytest.approx(3e-4)  # PyYAML reads 3e-4 as a string; the schema makes it a float
    assert recipe.data.root == "/data/mtat"
    assert recipe.branches[0].head.hidden_dims == [256, 128]
    assert recipe.trainer.devices == 2


@pytest.mark.parametrize(
    "override, key",
    [
        ("trainer.max_step=3", "trainer.max_step: unknown key (did you mean 'max_steps'?)"),
        ("trainer.max_steps=abc", "trainer.max_steps: expected int"),
        ("data.batch_size=1.5", "data.batch_size: expected int"),
        ("trainer.progress_bar=maybe", "trainer.progress_bar: expected bool"),
        ("branches.0.head.out_dim=x", "branches.0.head.out_dim: expected int"),
        ("branches.3.encoder=x", "branches.3: list index"),
        ("loss.temperature=0", "loss.temperature: must be positive"),
        ("views.crop_samples=10000000", "views.crop_samples: "),
        ("supervised.num_classes=10", "data.label_fraction: "),
        ("nonsense", "not of the form key.sub=value"),
        ("trainer.devices=two", "trainer.devices: 'two' is not a device count"),
        ("trainer.devices=0", "trainer.devices: 0 is not a device count"),
        ("trainer.precision=bf17", "trainer.precision: 'bf17' is not one of"),
        ("trainer.accelerator=gpus", "trainer.accelerator: 'gpus' is not one of"),
        ("trainer.strategy=foo", "trainer.strategy: 'foo' is not a strategy"),
        ("optim.lr=inf", "optim.lr: must be a finite number > 0, got inf"),
        ("optim.lr=.nan", "optim.lr: must be a finite number > 0, got nan"),
        ("optim.weight_decay=-0.1", "optim.weight_decay: must be a finite number >= 0"),
        ("optim.warmup_steps=-1", "optim.warmup_steps: must be an int >= 0"),
        ("data.clip_seconds=inf", "data.clip_seconds: must be a finite number > 0, got inf"),
        ("data.num_workers=-1", "data.num_workers: must be an int >= 0, got -1"),
        ("data.dataset=mtat", "data.dataset: must be one of folder, csv, magnatagatune"),
        ("trainer.gradient_clip_val=inf", "trainer.gradient_clip_val: must be a finite number > 0"),
    ],
)
def test_errors_name_the_key(tmp_path, override, key):
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, {}), [override])
    assert key in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError, match="mapping"):
        load_recipe(bad)


def test_yaml_is_loaded_safely(tmp_path):
    bad = tmp_path / "evil.yaml"
    bad.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)


def test_apply_overrides_creates_sections():
    data = {}
    apply_overrides(data, ["data.options.split=train", "seed=3"])
    assert data == {"data": {"options": {"split": "train"}}, "seed": 3}


def test_bundled_recipes_validate():
    from audiocl.recipes_path import RECIPES, bundled_recipes

    names = bundled_recipes()
    for name in names:
        load_recipe(RECIPES / f"{name}.yaml")


@pytest.mark.parametrize("override", ["trainer.devices=[0, 1]", "trainer.devices=-1", "trainer.precision=bf16-mixed"])
def test_lightning_choices_pass(tmp_path, override):
    load_recipe(write(tmp_path, {}), [override])
