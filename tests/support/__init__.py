"""Helpers shared by test modules of several folders: tests import them from here, never from each other."""
