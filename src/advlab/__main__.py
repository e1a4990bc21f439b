"""`python -m advlab` is the `advlab` command (torchrun starts it so: `torchrun ... -m advlab gan train ...`)."""

from advlab.cli.main import run_as_program

if __name__ == "__main__":
    run_as_program()
