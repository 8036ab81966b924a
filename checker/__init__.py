"""checker: pure functions from a history to a verdict. Imports neither
persist nor nemesis, so a stored run can be re-checked at any time."""
