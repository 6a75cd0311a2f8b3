"""Migrations written for the user: data-migration stubs, and the expand / backfill / contract
plan."""
