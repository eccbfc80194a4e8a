"""Study specs (TOML), shipped inside the wheel as the package ``landscape.studies``."""
