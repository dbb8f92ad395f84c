"""Errors every app's actions raise, known to the API's error handler without importing apps."""


class ActionError(Exception):
    """A request that cannot be carried out; `errors` maps fields to messages (as a 400)."""

    def __init__(self, errors: dict[str, list[str]] | str) -> None:
        self.errors = errors if isinstance(errors, dict) else {"detail": [errors]}
        super().__init__(str(self.errors))
