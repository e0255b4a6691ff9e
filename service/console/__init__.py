"""The web console at /app: server-rendered pages for the people the service is for.

The console is a client of the JSON API, in the same process: every page reads and every
form writes through the API's own routes (client.py), with the tokens the API issued at
sign-in kept in the console's session cookie. So the console can do nothing the API does not
allow a user, and its authorization, validation, limits and audit are the API's, once.
docs/console.md has the pages, the session and the browser-side rules (CSP, CSRF).
"""
