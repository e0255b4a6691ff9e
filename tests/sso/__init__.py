"""The single sign-on tests' real providers, and a person at their pages."""
