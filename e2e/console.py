"""What a person's pages logged: the errors a test asserts there are none of."""

from __future__ import annotations

from e2e.pages import Person


def console_errors(person: Person) -> list[str]:
    """What any of this person's pages logged as an error or threw uncaught."""
    return [
        line
        for lines in person.console.values()
        for line in lines
        if line.startswith("[error]") or line.startswith("[pageerror]")
    ]
