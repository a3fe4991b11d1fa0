"""initial schema: the tables of protocol v2's service

Revision ID: 0001
Revises:
Created: 2026-12-01 16:06:52.839910
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table of the service."""
    op.create_table(
        "household",
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("ean", sa.String(), nullable=True),
        sa.Column("contact", sa.String(), nullable=True),
        sa.Column("admitted_at", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "login_challenge",
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_table(
        "manager_request",
        sa.Column("signature_hash", sa.String(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signature_hash"),
    )
    op.create_table(
        "meter",
        sa.Column("meter_id", sa.String(), nullable=False),
        sa.Column("household", sa.String(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("public_key_x", sa.String(), nullable=False),
        sa.Column("public_key_y", sa.String(), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("meter_id"),
    )
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_household"), ["household"], unique=False)

    op.create_table(
        "reading",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_id", sa.String(), nullable=False),
        sa.Column("interval_id", sa.BigInteger(), nullable=False),
        sa.Column("import_wh_total", sa.BigInteger(), nullable=False),
        sa.Column("export_wh_total", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("signature_r", sa.String(), nullable=False),
        sa.Column("signature_s", sa.String(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meter_id", "seq", name="uq_reading_meter_seq"),
    )
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reading_meter_interval", ["meter_id", "interval_id"], unique=False
        )

    op.create_table(
        "v2_meter_batch",
        sa.Column("meter_id", sa.String(), nullable=False),
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("household", sa.String(), nullable=False),
        sa.Column("start_import_wh", sa.BigInteger(), nullable=False),
        sa.Column("start_export_wh", sa.BigInteger(), nullable=False),
        sa.Column("end_import_wh", sa.BigInteger(), nullable=False),
        sa.Column("end_export_wh", sa.BigInteger(), nullable=False),
        sa.Column("deltas", sa.String(), nullable=False),
        sa.Column("signature_r", sa.String(), nullable=False),
        sa.Column("signature_s", sa.String(), nullable=False),
        sa.Column("batch_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("meter_id", "period_id"),
    )
    with op.batch_alter_table("v2_meter_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_v2_meter_batch_household"), ["household"], unique=False
        )

    op.create_table(
        "v2_period",
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("delivered_wh", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period_id"),
    )
    op.create_table(
        "v2_schedule",
        sa.Column("schedule_hash", sa.String(), nullable=False),
        sa.Column("household", sa.String(), nullable=False),
        sa.Column("period_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("first_interval_id", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("lock_units", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("posted_block", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_hash"),
        sa.UniqueConstraint("household", "period_id", "version", name="uq_v2_schedule_version"),
    )
    with op.batch_alter_table("v2_schedule", schema=None) as batch_op:
        batch_op.create_index(
            "ix_v2_schedule_household_status", ["household", "status"], unique=False
        )
        batch_op.create_index("ix_v2_schedule_status", ["status", "period_id"], unique=False)


def downgrade() -> None:
    """Undo 0001."""
    with op.batch_alter_table("v2_schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_v2_schedule_status")
        batch_op.drop_index("ix_v2_schedule_household_status")

    op.drop_table("v2_schedule")
    op.drop_table("v2_period")
    with op.batch_alter_table("v2_meter_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_v2_meter_batch_household"))

    op.drop_table("v2_meter_batch")
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.drop_index("ix_reading_meter_interval")

    op.drop_table("reading")
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_household"))

    op.drop_table("meter")
    op.drop_table("manager_request")
    op.drop_table("login_challenge")
    op.drop_table("household")
