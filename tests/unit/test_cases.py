"""Case numbers, PINs and the lockout (``hashlist.cases``): what a person types works,
what a guesser tries does not."""

from __future__ import annotations

import pytest

from hashlist.cases import (
    LOCK_SECONDS,
    MAX_FAILURES,
    MAX_LOCK_SECONDS,
    CaseLockedError,
    PinAttempts,
    hash_pin,
    new_case_number,
    new_pin,
    parse_case_number,
    parse_pin,
    pin_matches,
)
from hashlist.errors import InputError


def test_case_numbers_are_random_and_read_back_as_people_type_them() -> None:
    numbers = {new_case_number() for _ in range(1000)}
    assert len(numbers) == 1000
    number = "K7QM-2XHD-9RTB"
    for typed in ("k7qm 2xhd 9rtb", "K7QM2XHD9RTB", " k7qm-2xhd-9rtb "):
        assert parse_case_number(typed) == number
    assert parse_case_number("OOOO-IIII-LLLL") == "0000-1111-1111"  # misreadings folded
    for n in numbers:
        assert parse_case_number(n) == n


@pytest.mark.parametrize("bad", ["", "K7QM-2XHD", "K7QM-2XHD-9RTBX", "K7QM-2XHD-9RTU", "x" * 500])
def test_malformed_case_numbers_are_refused_with_an_example(bad: str) -> None:
    with pytest.raises(InputError, match="like K7QM-2XHD-9RTB"):
        parse_case_number(bad)


def test_a_pin_is_stored_only_as_a_salted_scrypt_hash() -> None:
    pin = new_pin()
    assert len(parse_pin(pin)) == 10
    stored = hash_pin(pin)
    assert parse_pin(pin).encode() not in stored
    assert stored.startswith(b"scrypt$32768$8$1$")
    assert hash_pin(pin) != stored  # a new salt each time
    assert pin_matches(pin, stored)
    assert pin_matches(parse_pin(pin), stored)  # typed without the dash
    other = f"{(int(parse_pin(pin)) + 1) % 10**10:010d}"
    assert not pin_matches(other, stored)


FULLWIDTH = "".join(chr(0xFF10 + d) for d in range(10))  # digits to str.isdigit, not ASCII


@pytest.mark.parametrize("bad", ["1234", "12345-6789x", FULLWIDTH, "0" * 41])
def test_malformed_pins_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="10 digits"):
        parse_pin(bad)


def test_a_stored_hash_asking_for_absurd_work_is_refused_not_computed() -> None:
    stored = hash_pin("12345-67890").replace(b"$32768$", b"$1073741824$")
    with pytest.raises(ValueError, match="unsupported"):
        pin_matches("12345-67890", stored)
    with pytest.raises(ValueError, match="malformed"):
        pin_matches("12345-67890", b"scrypt$nonsense")


def test_wrong_pins_lock_the_case_for_longer_each_time() -> None:
    state, now = PinAttempts(), 1_000
    for _ in range(MAX_FAILURES - 1):
        state = state.failed(now)
        state.check_open(now)  # not locked yet
    state = state.failed(now)
    with pytest.raises(CaseLockedError) as locked:
        state.check_open(now + LOCK_SECONDS - 1)
    assert locked.value.until == now + LOCK_SECONDS
    state.check_open(now + LOCK_SECONDS)  # open again, for MAX_FAILURES more tries
    later = now + LOCK_SECONDS
    for _ in range(MAX_FAILURES):
        state = state.failed(later)
    assert state.locked_until == later + 2 * LOCK_SECONDS  # the second lock is longer
    for _ in range(10):  # ten more locks: the duration stops growing at the cap
        at = state.locked_until
        for _ in range(MAX_FAILURES):
            state = state.failed(at)
    assert state.locked_until - at == MAX_LOCK_SECONDS
    assert state.succeeded() == PinAttempts()
