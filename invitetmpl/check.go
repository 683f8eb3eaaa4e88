package invitetmpl

import (
	htmltemplate "html/template"
	"io"
	"strings"
	"text/template"
	"text/template/parse"
)

// builtinVars are the variables every message has (invite.Vars.Map).
var builtinVars = []string{"name", "given_name", "family_name", "invite_link", "invited_by", "account_name", "expires_at", "code"}

// parseText parses a plain-text part (subject, text body, SMS) and checks
// it against the known variable names.
func parseText(path, src string, known map[string]bool) (*template.Template, error) {
	t, err := template.New(path).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, &TemplateError{Path: path, Err: wrapSyntax(err)}
	}
	if err := checkParsed(path, t.Tree, len(t.Templates()), known); err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, sampleData(known)); err != nil {
		return nil, &TemplateError{Path: path, Err: wrapSyntax(err)}
	}
	return t, nil
}

// parseHTML parses an HTML part, checks it and renders it once, which runs
// html/template's contextual escaper: a template the escaper cannot make
// safe is refused here, not at send time.
func parseHTML(path, src string, known map[string]bool) (*htmltemplate.Template, error) {
	t, err := htmltemplate.New(path).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, &TemplateError{Path: path, Err: wrapSyntax(err)}
	}
	if err := checkParsed(path, t.Tree, len(t.Templates()), known); err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, sampleData(known)); err != nil {
		return nil, &TemplateError{Path: path, Err: wrapSyntax(err)}
	}
	return t, nil
}

type syntaxError struct{ err error }

func (e syntaxError) Error() string   { return e.err.Error() }
func (e syntaxError) Unwrap() []error { return []error{ErrSyntax, e.err} }

func wrapSyntax(err error) error { return syntaxError{err} }

// constructError is a refused construct, naming it.
type constructError string

func (e constructError) Error() string { return string(e) }
func (e constructError) Unwrap() error { return ErrConstruct }

// unknownVarError names an unknown variable.
type unknownVarError string

func (e unknownVarError) Error() string {
	return "names the unknown variable ." + string(e) + " (not built in, not in Config.Variables)"
}
func (e unknownVarError) Unwrap() error { return ErrUnknownVariable }

// checkParsed checks a parsed template: one template (no define or
// block), no empty body, and every variable it names known.
func checkParsed(path string, tree *parse.Tree, templates int, known map[string]bool) error {
	if tree == nil || strings.TrimSpace(tree.Root.String()) == "" {
		return &TemplateError{Path: path, Err: wrapSyntax(errString("the template is empty"))}
	}
	if templates != 1 {
		return &TemplateError{Path: path, Err: constructError("define and block are not allowed: one template per file")}
	}
	if err := checkNode(tree.Root, known); err != nil {
		return &TemplateError{Path: path, Err: err}
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// checkNode walks n: every field (.name, $.name) must be a known variable;
// sub-templates, index and call are refused (they could reach a variable
// no check sees), as are fields of a variable (.name.x: every variable is
// a string).
func checkNode(n parse.Node, known map[string]bool) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c, known); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkNode(n.Pipe, known)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, known)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, known)
	case *parse.RangeNode:
		return checkBranch(&n.BranchNode, known)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNode(c, known); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := checkNode(a, known); err != nil {
				return err
			}
		}
	case *parse.FieldNode:
		return checkField(n.Ident, known)
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			return checkField(n.Ident[1:], known)
		}
		if len(n.Ident) > 1 {
			return constructError("fields of a template variable (" + n.String() + ") are not allowed: every variable is a string")
		}
	case *parse.ChainNode:
		return constructError("field chains (" + n.String() + ") are not allowed: every variable is a string")
	case *parse.IdentifierNode:
		switch n.Ident {
		case "index", "call":
			return constructError("the function " + n.Ident + " is not allowed: name variables as .name")
		}
	case *parse.TemplateNode:
		return constructError("sub-templates ({{template}}, {{block}}) are not allowed")
	}
	return nil
}

func checkBranch(b *parse.BranchNode, known map[string]bool) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := checkNode(n, known); err != nil {
			return err
		}
	}
	return nil
}

func checkField(ident []string, known map[string]bool) error {
	if !known[ident[0]] {
		return unknownVarError(ident[0])
	}
	if len(ident) > 1 {
		return constructError("fields of a variable (." + strings.Join(ident, ".") + ") are not allowed: every variable is a string")
	}
	return nil
}

// sampleData is a value for every known variable, for the test rendering
// at registration.
func sampleData(known map[string]bool) map[string]string {
	d := make(map[string]string, len(known))
	for k := range known {
		d[k] = "sample"
	}
	d["invite_link"] = "https://app.example/invite?token=sample"
	return d
}
