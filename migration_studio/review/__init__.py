"""What the admin review pages show, rendered server side (no front-end stack)."""
