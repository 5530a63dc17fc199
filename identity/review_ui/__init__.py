"""The stewards' workbench: server-rendered pages under /review for people who sign in."""
