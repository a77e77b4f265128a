"""Everyone who signs in: accounts and their rights, sign-in protection, the second
factor, languages."""
