"""`python -m audioconcept ...` = `audioconcept ...` (so `torchrun -m audioconcept train ...` works)."""

from audioconcept.cli import main

if __name__ == "__main__":
    main()
