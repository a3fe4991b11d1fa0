"""The readings intake's rules (api.readings.service) on a real SQLite database: which reading
is stored, which refused with which reason, and what a refusal leaves stored. The meter's
community record is a MeterInfo value as the chain reader answers it (the chain lookup itself,
MeterDirectory's cache, is tested in tests/api against Anvil); written against the survivors of
scripts/mutation's intake group (issue 17).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text

from api.db import create_schema, make_engine
from api.errors import ReadingRejectedError
from api.readings.meters import MeterDirectory, MeterStatus
from api.readings.service import (
    MAX_STORABLE,
    check_reading,
    ingest_reading,
    parse_reading,
    parse_reading_json,
    store_readings,
)
from api.relayer.context import Domain
from ledger.community import MeterInfo, Window
from metering.errors import ReadingFormatError
from metering.reading import (
    INTERVAL_SECONDS,
    PublicKey,
    Reading,
    SignedReading,
    meter_id_of,
    sign_reading,
)

DOMAIN = Domain(31337, "0x5FbDB2315678afecb367f032d315c3E4C73e6bE3")
OWNER = "0x000000000000000000000000000000000000bEEF"
NOW = 1_000 * INTERVAL_SECONDS


class Meter:
    """A P-256 meter key and its community record."""

    def __init__(self, admitted_at: int = 1, revoked_at: int = 0) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = PublicKey.from_cryptography(self.key.public_key())
        self.meter_id = meter_id_of(self.public)
        household = OWNER if admitted_at else "0x" + "00" * 20
        self.info = MeterInfo(
            self.meter_id,
            household,
            Window(admitted_at, revoked_at),
            self.public.x,
            self.public.y,
        )

    def signed(self, interval: int, imported: int, exported: int, seq: int) -> SignedReading:
        reading = Reading(self.meter_id, interval, imported, exported, seq)
        return sign_reading(self.key, reading, DOMAIN.chain_id, DOMAIN.exchange_address)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def directory(*meters: Meter) -> MeterDirectory:
    known = {meter.meter_id: meter.info for meter in meters}
    unknown = Meter(admitted_at=0)
    return MeterDirectory(lambda meter_id: known.get(meter_id, unknown.info), 60)


def ingest(engine: Engine, meter: Meter, signed: SignedReading, now: int = NOW) -> bool:
    return ingest_reading(engine, directory(meter), DOMAIN, signed, now).created


def refusal(engine: Engine, meter: Meter, signed: SignedReading) -> ReadingRejectedError:
    with pytest.raises(ReadingRejectedError) as raised:
        ingest(engine, meter, signed)
    return raised.value


def stored(engine: Engine) -> list[tuple[int, int, int, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT interval_id, import_wh_total, export_wh_total, seq FROM reading"
                " ORDER BY seq"
            )
        )
        return [tuple(row) for row in rows]


def facts(meter: Meter, signed: SignedReading) -> dict[str, object]:
    return {
        "meter_id": "0x" + meter.meter_id.hex(),
        "interval_id": signed.reading.interval_id,
        "seq": signed.reading.seq,
    }


def test_a_first_reading_is_stored_and_a_resend_answers_the_stored_one(engine: Engine) -> None:
    meter = Meter()
    first = meter.signed(10, 1_000, 500, 1)
    assert ingest(engine, meter, first)
    again = ingest_reading(engine, directory(meter), DOMAIN, first, NOW)
    assert not again.created
    assert again.meter_id == "0x" + meter.meter_id.hex()
    assert (again.stored.interval_id, again.stored.seq) == (10, 1)
    assert stored(engine) == [(10, 1_000, 500, 1)]


@pytest.mark.parametrize("field", [0, 1, 2], ids=["interval", "import", "export"])
@pytest.mark.parametrize("seq", [1, 2], ids=["older", "latest"])
def test_the_same_seq_with_any_other_value_conflicts(engine: Engine, field: int, seq: int) -> None:
    # The defect: without the export comparison a conflicting reading answered 200.
    meter = Meter()
    kept = {1: (10, 1_000, 500), 2: (11, 1_100, 600)}
    for n, (interval, imported, exported) in kept.items():
        assert ingest(engine, meter, meter.signed(interval, imported, exported, n))
    changed = [*kept[seq]]
    changed[field] += 1
    signed = meter.signed(changed[0], changed[1], changed[2], seq)
    error = refusal(engine, meter, signed)
    assert (error.slug, error.http_status) == ("conflicting-reading", 409)
    assert error.detail == f"seq {seq} is already stored with different values"
    assert error.facts == facts(meter, signed)
    assert stored(engine) == [(10, 1_000, 500, 1), (11, 1_100, 600, 2)]


def test_an_older_seq_stored_with_the_same_values_is_a_resend(engine: Engine) -> None:
    meter = Meter()
    first = meter.signed(10, 1_000, 500, 1)
    assert ingest(engine, meter, first)
    assert ingest(engine, meter, meter.signed(12, 1_200, 700, 3))
    assert not ingest(engine, meter, first)
    assert stored(engine) == [(10, 1_000, 500, 1), (12, 1_200, 700, 3)]


def test_an_older_seq_never_stored_is_not_increasing(engine: Engine) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(12, 1_200, 700, 3))
    signed = meter.signed(11, 1_100, 600, 2)
    error = refusal(engine, meter, signed)
    assert (error.slug, error.http_status) == ("seq-not-increasing", 409)
    assert error.detail == "seq 2 is not above the meter's latest seq 3 (a replay?)"
    assert error.facts == facts(meter, signed)


@pytest.mark.parametrize("interval", [11, 12])
def test_a_later_seq_must_come_with_a_later_interval(engine: Engine, interval: int) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(12, 1_200, 700, 3))
    signed = meter.signed(interval, 1_300, 800, 4)
    error = refusal(engine, meter, signed)
    assert (error.slug, error.http_status) == ("interval-not-increasing", 409)
    assert error.detail == (
        f"interval {interval} is not after the meter's latest reading's interval 12"
    )
    assert error.facts == facts(meter, signed)
    assert ingest(engine, meter, meter.signed(13, 1_300, 800, 4))


@pytest.mark.parametrize(
    ("values", "name", "old", "new"),
    [
        ((1_199, 700), "import_wh_total", 1_200, 1_199),
        ((1_200, 699), "export_wh_total", 700, 699),
    ],
)
def test_a_register_never_decreases(
    engine: Engine, values: tuple[int, int], name: str, old: int, new: int
) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(12, 1_200, 700, 3))
    signed = meter.signed(13, *values, 4)
    error = refusal(engine, meter, signed)
    assert (error.slug, error.http_status) == ("register-decreased", 409)
    assert error.detail == f"{name} decreased from {old} to {new} Wh"
    assert error.facts == facts(meter, signed)
    # Equal registers are no decrease (a quiet interval).
    assert ingest(engine, meter, meter.signed(13, 1_200, 700, 4))
    assert stored(engine)[-1] == (13, 1_200, 700, 4)


def test_unknown_and_revoked_meters_and_bad_signatures_are_refused(engine: Engine) -> None:
    stranger = Meter(admitted_at=0)
    signed = stranger.signed(10, 1, 1, 1)
    meter_hex = "0x" + stranger.meter_id.hex()
    error = refusal(engine, stranger, signed)
    assert (error.slug, error.detail) == ("unknown-meter", f"meter {meter_hex} is not registered")
    assert error.facts == facts(stranger, signed)
    revoked = Meter(admitted_at=1, revoked_at=2)
    signed = revoked.signed(10, 1, 1, 1)
    error = refusal(engine, revoked, signed)
    meter_hex = "0x" + revoked.meter_id.hex()
    assert (error.slug, error.http_status) == ("meter-revoked", 403)
    assert error.detail == f"meter {meter_hex} has been revoked"
    assert error.facts == facts(revoked, signed)
    meter = Meter()
    # The meter's own signature over another reading: its values were changed in transit.
    honest = meter.signed(10, 1, 1, 1)
    tampered = Reading(meter.meter_id, 10, 2, 1, 1)
    forged = SignedReading(tampered, meter.public, honest.r, honest.s)
    error = refusal(engine, meter, forged)
    assert (error.slug, error.detail) == (
        "invalid-reading-signature",
        "the signature does not verify against the meter's registered key",
    )
    assert error.facts == facts(meter, forged)
    assert stored(engine) == []


def test_a_reading_exists_only_once_its_interval_has_ended(engine: Engine) -> None:
    meter = Meter()
    ended = NOW // INTERVAL_SECONDS - 1  # interval `ended` ends exactly at NOW
    signed = meter.signed(ended + 1, 1, 1, 1)
    error = refusal(engine, meter, signed)
    assert (error.slug, error.http_status) == ("reading-from-future", 422)
    assert error.detail == (
        f"a reading for interval {ended + 1} exists only from unix time {NOW + INTERVAL_SECONDS}"
    )
    assert error.facts == facts(meter, signed)
    assert ingest(engine, meter, meter.signed(ended, 1, 1, 1))


def test_the_first_reading_indexes_the_meter_and_its_owner(engine: Engine) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(10, 1, 1, 1))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT household, status FROM meter")).mappings().all()
    assert [(row["household"], row["status"]) for row in rows] == [(OWNER, MeterStatus.ACTIVE)]


def test_a_group_judges_each_reading_against_the_ones_before_it(engine: Engine) -> None:
    meter, other = Meter(), Meter()
    meters = directory(meter, other)
    readings = [
        meter.signed(10, 100, 0, 1),
        meter.signed(10, 100, 0, 1),  # a re-send of the first, inside the group
        meter.signed(10, 101, 0, 2),  # interval not after the first's
        other.signed(10, 5, 5, 1),
        meter.signed(11, 99, 0, 3),  # import decreased
        meter.signed(11, 150, 0, 3),
    ]
    checked = [check_reading(meters, DOMAIN, signed, NOW) for signed in readings]
    outcomes = store_readings(engine, checked)
    kinds = [
        o.slug if isinstance(o, ReadingRejectedError) else ("created" if o.created else "resent")
        for o in outcomes
    ]
    assert kinds == [
        "created",
        "resent",
        "interval-not-increasing",
        "created",
        "register-decreased",
        "created",
    ]
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT interval_id, import_wh_total, seq FROM reading ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [(10, 100, 1), (10, 5, 1), (11, 150, 3)]


def test_a_group_of_refusals_and_resends_commits_nothing_new(engine: Engine) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(10, 100, 0, 1))
    meters = directory(meter)
    checked = [check_reading(meters, DOMAIN, meter.signed(10, 100, 0, 1), NOW)]
    (outcome,) = store_readings(engine, checked)
    assert not isinstance(outcome, ReadingRejectedError)
    assert not outcome.created
    assert stored(engine) == [(10, 100, 0, 1)]


def test_registers_beyond_the_database_s_integers_are_malformed() -> None:
    meter = Meter()
    good = meter.signed(10, 1, 1, 1).to_json()
    assert parse_reading(good).reading.interval_id == 10
    for name in ("interval_id", "import_wh_total", "export_wh_total", "seq"):
        for value, refused in ((MAX_STORABLE, False), (MAX_STORABLE + 1, True)):
            fields = {"interval_id": 10, "import_wh_total": 1, "export_wh_total": 1, "seq": 1}
            fields[name] = value
            signed = meter.signed(
                fields["interval_id"],
                fields["import_wh_total"],
                fields["export_wh_total"],
                fields["seq"],
            )
            if not refused:
                assert getattr(parse_reading(signed.to_json()).reading, name) == value
                continue
            with pytest.raises(ReadingRejectedError) as raised:
                parse_reading(signed.to_json())
            assert (raised.value.slug, raised.value.detail) == (
                "malformed-reading",
                f"{name} must be below 2^63",
            )
            assert raised.value.facts == facts(meter, signed)


def test_a_body_that_is_not_json_or_not_a_reading_is_malformed() -> None:
    with pytest.raises(ReadingRejectedError) as raised:
        parse_reading_json(b"{not json")
    assert (raised.value.slug, raised.value.detail) == (
        "malformed-reading",
        "the body is not a JSON document",
    )
    assert raised.value.facts == {}
    with pytest.raises(ReadingRejectedError) as raised:
        parse_reading_json(b'{"reading": 1}')
    assert raised.value.slug == "malformed-reading"
    assert raised.value.facts == {}
    meter = Meter()
    body = meter.signed(10, 1, 1, 1).to_json()
    assert parse_reading_json(json.dumps(body).encode()).reading.seq == 1


def test_a_stored_reading_is_answered_with_its_meter_and_columns(engine: Engine) -> None:
    meter = Meter()
    first = ingest_reading(engine, directory(meter), DOMAIN, meter.signed(10, 1_000, 500, 1), NOW)
    second = ingest_reading(engine, directory(meter), DOMAIN, meter.signed(11, 1_100, 600, 2), NOW)
    again = ingest_reading(engine, directory(meter), DOMAIN, meter.signed(11, 1_100, 600, 2), NOW)
    assert (first.created, second.created, again.created) == (True, True, False)
    assert first.meter_id == second.meter_id == "0x" + meter.meter_id.hex()
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(text("SELECT id FROM reading ORDER BY seq"))]
    assert (first.stored.id, first.stored.interval_id, first.stored.seq) == (ids[0], 10, 1)
    assert (first.stored.import_wh_total, first.stored.export_wh_total) == (1_000, 500)
    assert second.stored == again.stored
    assert (second.stored.id, second.stored.import_wh_total) == (ids[1], 1_100)
    assert (second.stored.export_wh_total, second.stored.seq) == (600, 2)


def indexed_household(engine: Engine) -> str:
    with engine.connect() as connection:
        (household,) = connection.execute(text("SELECT household FROM meter")).one()
    return str(household)


def test_a_fresh_community_answer_is_used_and_updates_the_meter_index(engine: Engine) -> None:
    meter = Meter()
    assert ingest(engine, meter, meter.signed(10, 1, 1, 1))
    assert indexed_household(engine) == OWNER
    # The directory's cached answer says "unknown"; the caller's fresh answer is the chain's.
    stale = directory()
    new_owner = "0x000000000000000000000000000000000000cafE"
    fresh = MeterInfo(meter.meter_id, new_owner, Window(1, 0), meter.public.x, meter.public.y)
    done = ingest_reading(engine, stale, DOMAIN, meter.signed(11, 2, 2, 2), NOW, refreshed=fresh)
    assert done.created
    assert indexed_household(engine) == new_owner
    # A cached answer does not rewrite the index.
    assert ingest(engine, meter, meter.signed(12, 3, 3, 3))
    assert indexed_household(engine) == new_owner
    checked = check_reading(stale, DOMAIN, meter.signed(13, 4, 4, 4), NOW, refreshed=fresh)
    assert (checked.info, checked.refreshed) == (fresh, True)
    cached = check_reading(directory(meter), DOMAIN, meter.signed(13, 4, 4, 4), NOW)
    assert (cached.info, cached.refreshed) == (meter.info, False)


def test_a_malformed_reading_carries_the_format_s_own_reason() -> None:
    body = {"reading": 1}
    with pytest.raises(ReadingFormatError) as expected:
        SignedReading.from_json(body)
    with pytest.raises(ReadingRejectedError) as raised:
        parse_reading(body)
    assert (raised.value.slug, raised.value.detail) == ("malformed-reading", str(expected.value))
    assert str(expected.value) not in ("", "None")
