"""Recipes: YAML with line numbers, a typed schema, overrides and expansion into jobs."""

from zpipe.recipe.errors import Issue, RecipeError
from zpipe.recipe.load import load_recipe
from zpipe.recipe.model import Job, Recipe, StageSpec

__all__ = ["Issue", "Job", "Recipe", "RecipeError", "StageSpec", "load_recipe"]
