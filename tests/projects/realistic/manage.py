#!/usr/bin/env python
"""A realistic project for the test suite: a custom user model, foreign keys to it, data steps
and a squashed history."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
