"""The sealed triage index's byte format (docs/crypto.md, "Casework"): version 2 keeps an
id list per category and flag, so a filter reads its list instead of every case; a
version 1 blob (per case an id and two bit sets), written before, reads the same."""

from __future__ import annotations

import json
import struct

from hypothesis import given
from hypothesis import strategies as st

from reportline.services import triage_index
from reportline.services.triage_index import Index

CATEGORIES = ["Infiltration", "Controlled drugs", "Abuse of authority", "Other"]
FLAGS = ["victimisation", "iopc_referral", "immediate_risk"]

cases = st.dictionaries(
    st.integers(min_value=1, max_value=2**40),
    st.tuples(
        st.sets(st.sampled_from(CATEGORIES)).map(tuple),
        st.sets(st.sampled_from(FLAGS)).map(tuple),
    ),
    max_size=40,
)


def _index(entries: dict[int, tuple[tuple[str, ...], tuple[str, ...]]]) -> Index:
    index = Index()
    for case_id, (categories, flags) in entries.items():
        index.put(case_id, categories, flags)
    return index


def _version_1(index: Index) -> bytes:
    """The format before lists, as docs/crypto.md described it."""
    header = json.dumps({"categories": index.categories, "flags": index.flags}).encode()
    body = b"".join(struct.pack(">QIH", case_id, *bits) for case_id, bits in index.entries.items())
    return len(header).to_bytes(4, "big") + header + body


def _questions() -> list[tuple[str | None, str | None]]:
    return [(c, f) for c in (None, *CATEGORIES, "Unknown") for f in (None, *FLAGS, "unknown")]


@given(cases)
def test_version_2_round_trips_and_answers_each_filter_from_its_lists(
    entries: dict[int, tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    index = _index(entries)
    packed = triage_index._pack(index)
    assert json.loads(packed[4 : 4 + int.from_bytes(packed[:4], "big")])["version"] == 2
    assert triage_index._unpack(packed).entries == index.entries
    opened = triage_index._open(packed)
    for category, flag in _questions():
        assert triage_index._carrying(opened, category, flag) == index.cases_with(category, flag)
    assert triage_index._indexed(opened) == set(entries)


@given(cases)
def test_a_version_1_blob_reads_as_it_did(
    entries: dict[int, tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    index = _index(entries)
    opened = triage_index._open(_version_1(index))
    assert opened.lengths is None
    assert triage_index._unpack(_version_1(index)).entries == index.entries
    for category, flag in _questions():
        assert triage_index._carrying(opened, category, flag) == index.cases_with(category, flag)
    assert triage_index._indexed(opened) == set(entries)


def test_the_lists_are_little_endian_ids_in_ascending_order() -> None:
    index = _index({258: (("Other",), ("victimisation",)), 3: (("Other",), ())})
    packed = triage_index._pack(index)
    header_length = int.from_bytes(packed[:4], "big")
    header = json.loads(packed[4 : 4 + header_length])
    assert header["categories"] == ["Other"]
    assert header["lengths"] == [2, 2, 1, 0, 0, 0, 0, 0, 0]  # every, Other, the seven flags
    body = packed[4 + header_length :]
    assert body[:16] == (3).to_bytes(8, "little") + (258).to_bytes(8, "little")
    assert body[32:40] == (258).to_bytes(8, "little")  # the victimisation list


def test_more_categories_than_a_version_1_bit_set_held() -> None:
    # Version 1 gave categories 32 bits; lists have no such limit.
    names = tuple(f"Category {n}" for n in range(40))
    index = _index({7: (names[30:], ()), 8: ((names[39],), ())})
    opened = triage_index._open(triage_index._pack(index))
    assert triage_index._carrying(opened, names[39], None) == {7, 8}
    assert triage_index._carrying(opened, names[31], None) == {7}
    assert triage_index._unpack(triage_index._pack(index)).entries == index.entries
