package main

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/language"
)

// accessibility checks a page's DOM: a lang attribute (a valid BCP 47
// tag) with the direction of its script, a title, exactly one h1, no
// skipped heading level, a label for every form control, buttons with
// text, unique ids and aria references that resolve.
func accessibility(doc *html.Node) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	root := first(doc, atom.Html)
	lang := attr(root, "lang")
	tag, err := language.Parse(lang)
	switch {
	case lang == "":
		fail("<html> has no lang attribute")
	case err != nil:
		fail("lang %q is not a BCP 47 tag: %v", lang, err)
	default:
		script, _ := tag.Script()
		wantDir := "ltr"
		if rtlScripts[script.String()] {
			wantDir = "rtl"
		}
		if dir := attr(root, "dir"); dir != wantDir && !(dir == "" && wantDir == "ltr") {
			fail("lang %q with dir %q, want %q", lang, dir, wantDir)
		}
	}
	if strings.TrimSpace(text(first(doc, atom.Title))) == "" {
		fail("no <title>")
	}
	if h1s := all(doc, atom.H1); len(h1s) != 1 {
		fail("%d h1 elements, want exactly one", len(h1s))
	} else if strings.TrimSpace(text(h1s[0])) == "" {
		fail("the h1 is empty")
	}
	level := 0
	walk(doc, func(n *html.Node) {
		if l := headingLevel(n); l > 0 {
			if l > level+1 {
				fail("heading h%d %q follows h%d", l, text(n), level)
			}
			level = l
		}
	})

	ids := map[string]*html.Node{}
	walk(doc, func(n *html.Node) {
		if id := attr(n, "id"); id != "" {
			if ids[id] != nil {
				fail("the id %q is used twice", id)
			}
			ids[id] = n
		}
	})
	labels := map[string]string{} // for -> text
	for _, l := range all(doc, atom.Label) {
		labels[attr(l, "for")] += text(l)
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		for _, a := range []string{"aria-describedby", "aria-labelledby"} {
			for ref := range strings.FieldsSeq(attr(n, a)) {
				if ids[ref] == nil {
					fail("<%s> %s names the missing id %q", n.Data, a, ref)
				}
			}
		}
		switch n.DataAtom {
		case atom.Input, atom.Textarea, atom.Select:
			switch attr(n, "type") {
			case "hidden", "submit", "button", "reset", "image":
				return
			}
			id := attr(n, "id")
			if strings.TrimSpace(labels[id]) == "" || id == "" {
				if attr(n, "aria-label") == "" && attr(n, "aria-labelledby") == "" && !inside(n, atom.Label) {
					fail("<%s name=%q> has no label", n.Data, attr(n, "name"))
				}
			}
		case atom.Button:
			if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
				fail("a button without text")
			}
		case atom.Img:
			if !hasAttr(n, "alt") {
				fail("an image without alt")
			}
		}
	})
	return problems
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func all(doc *html.Node, a atom.Atom) []*html.Node {
	var out []*html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == a {
			out = append(out, n)
		}
	})
	return out
}

func first(doc *html.Node, a atom.Atom) *html.Node {
	if ns := all(doc, a); len(ns) > 0 {
		return ns[0]
	}
	return nil
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && attr(n, "id") == id {
			found = n
		}
	})
	return found
}

func attr(n *html.Node, name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

func inside(n *html.Node, a atom.Atom) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.DataAtom == a {
			return true
		}
	}
	return false
}

func headingLevel(n *html.Node) int {
	if n.Type != html.ElementNode {
		return 0
	}
	switch n.DataAtom {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

// text is the text content of n, its spaces collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// wantText checks that an element a of doc has the text want.
func wantText(t *testing.T, doc *html.Node, a atom.Atom, want string) {
	t.Helper()
	var got []string
	for _, n := range all(doc, a) {
		if text(n) == want {
			return
		}
		got = append(got, text(n))
	}
	t.Errorf("no <%s> %q; have %q", a, want, got)
}

// listItems returns the texts of the page's list items.
func listItems(doc *html.Node) []string {
	var out []string
	for _, li := range all(doc, atom.Li) {
		out = append(out, text(li))
	}
	return out
}
