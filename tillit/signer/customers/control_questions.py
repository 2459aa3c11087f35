"""The control questions a customer answers at enrolment, and asked again to reset a forgotten
password (orders/reset.py). Answers are kept as Argon2id hashes of their normalised form."""

from __future__ import annotations

from tillit.signer import errors
from tillit.signer.passwords import Passwords
from tillit.signer.wire import ControlQuestion

CONTROL_QUESTIONS = (
    "Kva heitte det første kjæledyret ditt?",
    "I kva gate budde du då du var barn?",
    "Kva er mellomnamnet til mor di?",
)
"""The questions as stored beside the answers (and asked by `tillit-signer customers add`)."""
CONTROL_QUESTION_CODES: tuple[ControlQuestion, ...] = ("firstPet", "childhoodStreet", "mothersMiddleName")
"""What the API sends instead of the sentences, in the same order: kiosks word them in the customer's language."""


def normalise_answer(answer: str) -> str:
    return " ".join(answer.casefold().split())


def hash_answers(passwords: Passwords, answers: list[str]) -> list[tuple[str, str]]:
    """(question, hash of the normalised answer) for each question; InvalidInput for a missing or
    too short or long answer."""
    if len(answers) != len(CONTROL_QUESTIONS):
        raise errors.InvalidInput(f"give {len(CONTROL_QUESTIONS)} answers to the control questions")
    hashed = []
    for question, answer in zip(CONTROL_QUESTIONS, answers, strict=True):
        normalised = normalise_answer(answer)
        if len(normalised) < 2 or len(normalised) > 200:
            raise errors.InvalidInput("each control answer is 2-200 characters")
        hashed.append((question, passwords.hash(normalised)))
    return hashed


def question_codes(stored: list[tuple[str, str]]) -> list[ControlQuestion]:
    """The codes of the stored questions, in the order answered."""
    codes = dict(zip(CONTROL_QUESTIONS, CONTROL_QUESTION_CODES, strict=True))
    return [codes.get(question, CONTROL_QUESTION_CODES[index]) for index, (question, _) in enumerate(stored)]
