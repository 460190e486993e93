"""IdentityMemo: a pure function's result per object, by identity, for the most recently used objects."""

from __future__ import annotations

from agents.memo import IdentityMemo


def test_one_computation_per_object_and_none_shared_between_equal_objects() -> None:
    calls: list[list[int]] = []

    def total(values: list[int]) -> int:
        calls.append(values)
        return sum(values)

    memo: IdentityMemo[list[int], int] = IdentityMemo(total)
    first, equal = [1, 2], [1, 2]
    assert memo(first) == memo(first) == 3
    assert memo(equal) == 3
    assert [c is first for c in calls] == [True, False]  # once for each object, not for each call


def test_the_least_recently_used_object_is_forgotten_and_recomputed() -> None:
    calls: list[object] = []
    memo: IdentityMemo[object, int] = IdentityMemo(lambda obj: calls.append(obj) or len(calls), maxsize=2)
    a, b, c = object(), object(), object()
    assert (memo(a), memo(b), memo(a)) == (1, 2, 1)  # a is used again: b is now the oldest
    assert memo(c) == 3  # evicts b
    assert memo(a) == 1 and memo(b) == 4 and len(calls) == 4


def test_an_entry_holds_its_object_so_its_id_is_never_taken_by_another() -> None:
    memo: IdentityMemo[list[int], int] = IdentityMemo(sum)
    assert memo([5]) == 5  # the list would be garbage at once; the memo keeps it alive
    assert memo([7]) == 7  # so this new list cannot have the same id and get 5 back
