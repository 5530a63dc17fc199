"""`python -m identity` is the `identity` command."""

from identity.cli.main import app

if __name__ == "__main__":  # a spawned helper process imports this module; it must not run the CLI
    app()
