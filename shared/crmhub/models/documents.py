"""Brazilian documents and phones: validation and normalisation (validate-docbr, phonenumbers)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

_NON_DIGITS = re.compile(r"\D")


def digits(value: str) -> str:
    """Only the digits of ``value``."""
    return _NON_DIGITS.sub("", value)


@cache
def _validators() -> tuple[Any, Any]:
    from validate_docbr import CNPJ, CPF  # imported on first use: keeps cold starts short

    return CPF(), CNPJ()


def normalise_document(value: str) -> str:
    """Digits of a CPF (11) or CNPJ (14) whose check digits are valid, else ``ValueError``."""
    number = digits(value)
    if len(number) == 11:
        if not _validators()[0].validate(number):
            raise ValueError("CPF check digits are not valid")
        return number
    if len(number) == 14:
        if not _validators()[1].validate(number):
            raise ValueError("CNPJ check digits are not valid")
        return number
    raise ValueError("document must be a CPF (11 digits) or a CNPJ (14 digits)")


def normalise_email(value: str) -> str:
    """Lower-cased, syntax-checked e-mail (no DNS lookup), else ``ValueError``."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"e-mail is not valid: {exc}") from None


def document_kind(document: str) -> Literal["PF", "PJ"]:
    """``PF`` for a CPF, ``PJ`` for a CNPJ (``document`` already normalised)."""
    return "PF" if len(document) == 11 else "PJ"


def normalise_phone(value: str, region: str = "BR") -> str:
    """E.164 form (``+5511999998888``) of a valid phone number, else ``ValueError``."""
    import phonenumbers  # imported on first use: keeps cold starts short

    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("phone number is not valid")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
