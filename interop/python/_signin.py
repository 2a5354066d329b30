"""Drives Ward's sign-in pages the way a browser with no JavaScript would: GET the authorization
URL, follow redirects by hand, fill and POST each page's form (hidden inputs carry the CSRF token
and the continuation), and stop at the first redirect to the client's redirect_uri, which is never
followed. Ward signs in "username first": a form with a visible username field and no password field
is the username page (the username is posted); a form with a password field is the password page
(the password is posted, and the username too when its field is visible rather than hidden); any
other form is the consent page, answered with its submit button consent=accept.
"""

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

from _ward import fail

REDIRECTS = (301, 302, 303, 307, 308)
SKIPPED_INPUTS = ("submit", "button", "image", "reset", "file")


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"method": a.get("method", "get").lower(), "action": a.get("action", ""), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(a)


def page_form(html):
    """The page's first POST form as a dict: action, fields (what a browser would post as is),
    has_password (a password field), has_username (a username field that is not hidden); or None."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if form["method"] != "post":
            continue
        fields, has_password, has_username = {}, False, False
        for i in form["inputs"]:
            kind = i.get("type", "text").lower()
            has_password |= kind == "password"
            has_username |= i.get("name") == "username" and kind != "hidden"
            if not i.get("name") or kind in SKIPPED_INPUTS or (kind in ("checkbox", "radio") and "checked" not in i):
                continue
            fields[i["name"]] = i.get("value", "on" if kind in ("checkbox", "radio") else "")
        return {"action": form["action"], "fields": fields, "has_password": has_password, "has_username": has_username}
    return None


def post_form(html):
    """(action, fields, has_password) of the page's first POST form, or None."""
    form = page_form(html)
    return None if form is None else (form["action"], form["fields"], form["has_password"])


def sign_in(session, authorization_url, redirect_uri, username, password):
    """Returns (the redirect to redirect_uri with its query parsed, the pages answered in order)."""
    pages = []
    response = session.get(authorization_url, allow_redirects=False)
    for _ in range(20):
        if response.status_code in REDIRECTS:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(redirect_uri):
                query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                return location, query, pages
            response = session.get(location, allow_redirects=False)
            continue
        if response.status_code != 200:
            fail(f"sign-in: {response.request.method} {response.url} answered {response.status_code}: {response.text[:500]}")
        form = page_form(response.text)
        if form is None:
            fail(f"sign-in: the page at {response.url} has no POST form: {response.text[:500]}")
        action, fields = form["action"], form["fields"]
        if form["has_password"]:
            if "password" in pages:
                fail(f"sign-in: the password form came back, the credentials were refused: {response.text[:500]}")
            if form["has_username"]:
                fields["username"] = username
            fields["password"] = password
            pages.append("password")
        elif form["has_username"]:
            if "username" in pages:
                fail(f"sign-in: the username form came back, the username was refused: {response.text[:500]}")
            fields["username"] = username
            pages.append("username")
        else:
            fields["consent"] = "accept"
            pages.append("consent")
        response = session.post(urljoin(response.url, action), data=fields, allow_redirects=False)
    fail(f"sign-in: no redirect to {redirect_uri} after 20 steps ({pages})")
