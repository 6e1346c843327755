"""Search queries remembered per QGIS project (saved with the project, scope "TerraLens")."""

SCOPE = "TerraLens"
KEY = "/search_history"
LIMIT = 30


def load_history(project):
    """The project's past queries, most recent first."""
    values, _ok = project.readListEntry(SCOPE, KEY)
    return [value for value in values if value.strip()]


def remember_query(project, query, limit=LIMIT):
    """Put `query` first in the project's history (once) and return the new history."""
    query = query.strip()
    history = [past for past in load_history(project) if past != query]
    if query:
        history.insert(0, query)
    history = history[:limit]
    project.writeEntry(SCOPE, KEY, history)
    return history
