"""Initial schema: benchmarks, teams, API tokens, submissions, submission events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benchmarks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("gt_dir", sa.Text(), nullable=False),
        sa.Column("num_known", sa.Integer(), nullable=False),
        sa.Column("num_images", sa.Integer(), nullable=False),
        sa.Column("layout_json", sa.Text(), nullable=False),
        sa.Column("gt_public", sa.Boolean(), nullable=False),
        sa.Column("scores_hidden", sa.Boolean(), nullable=False),
        sa.Column("show_rule", sa.String(16), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("total_limit", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_api_tokens_prefix", "api_tokens", ["prefix"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "benchmark_id",
            sa.Integer(),
            sa.ForeignKey("benchmarks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("paper_url", sa.String(500), nullable=False),
        sa.Column("code_url", sa.String(500), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("metrics_json", sa.Text(), nullable=True),
        sa.Column("scorer_version", sa.String(32), nullable=True),
        sa.Column("gq", sa.Float(), nullable=True),
        sa.Column("gq_kn", sa.Float(), nullable=True),
        sa.Column("gq_uk", sa.Float(), nullable=True),
        sa.Column("gq_clu", sa.Float(), nullable=True),
        sa.Column("auroc", sa.Float(), nullable=True),
        sa.Column("aupr", sa.Float(), nullable=True),
        sa.Column("fpr95", sa.Float(), nullable=True),
        sa.Column("miou", sa.Float(), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("failed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_submissions_status_queued", "submissions", ["status", "queued_at"])
    op.create_index(
        "ix_submissions_team_bench", "submissions", ["team_id", "benchmark_id", "created_at"]
    )
    op.create_table(
        "submission_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id",
            sa.Integer(),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("worker_id", sa.String(100), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_submission_events_submission_id", "submission_events", ["submission_id"]
    )


def downgrade() -> None:
    op.drop_table("submission_events")
    op.drop_table("submissions")
    op.drop_table("api_tokens")
    op.drop_table("teams")
    op.drop_table("benchmarks")
