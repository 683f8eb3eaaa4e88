package invitetmpl

import (
	"io/fs"
	"maps"
	"path"
	"strings"

	"golang.org/x/text/language"
)

// The files of a language folder. An email needs the three email files; an
// SMS needs sms.txt. The same files in a "resend" sub-folder make the
// resend variant.
const (
	fileSubject = "subject.txt"
	fileHTML    = "body.html"
	fileText    = "body.txt"
	fileSMS     = "sms.txt"
	dirResend   = "resend"
)

// Register adds the templates in fsys, laid out as
//
//	<key>/<lang>/subject.txt     email subject (text/template, one line)
//	<key>/<lang>/body.html       email HTML body (html/template)
//	<key>/<lang>/body.txt        email plain-text body (text/template)
//	<key>/<lang>/sms.txt         SMS body (text/template)
//	<key>/<lang>/resend/...      the same files, for resends (optional)
//
// where <key> is a template key (letters, digits, '_', '-', '.') and
// <lang> a BCP 47 language tag ("en", "de", "pt-BR"). A language folder
// may hold the email files (all three), sms.txt, or both. Files and
// folders whose names start with a dot are skipped; anything else is
// refused.
//
// Every template is parsed, checked and rendered once with sample values
// before anything is added: a syntax error, an unknown variable, a
// refused construct or a missing part is a *TemplateError and nothing of
// fsys is registered. What fsys registers replaces, for each key,
// language, variant and channel it provides, the templates registered
// before (the defaults included); the rest stays.
func (r *Renderer) Register(fsys fs.FS) error {
	add, err := r.load(fsys)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.set.Load()
	next := &snapshot{keys: make(map[string]map[string]*langSet, len(cur.keys)+len(add))}
	for key, langs := range cur.keys {
		next.keys[key] = maps.Clone(langs)
	}
	for key, langs := range add {
		if next.keys[key] == nil {
			next.keys[key] = make(map[string]*langSet, len(langs))
		}
		for lang, ls := range langs {
			merged := &langSet{}
			if old := next.keys[key][lang]; old != nil {
				*merged = *old
			}
			for i := range 2 {
				if ls.email[i] != nil {
					merged.email[i] = ls.email[i]
				}
				if ls.sms[i] != nil {
					merged.sms[i] = ls.sms[i]
				}
			}
			if (merged.email[1] != nil && merged.email[0] == nil) || (merged.sms[1] != nil && merged.sms[0] == nil) {
				return &TemplateError{Path: path.Join(key, lang, dirResend), Err: missingError("a resend variant needs the first-send template of its channel beside it")}
			}
			next.keys[key][lang] = merged
		}
	}
	next.build(r.cfg.DefaultLanguage)
	r.set.Store(next)
	return nil
}

// load reads and checks every template of fsys.
func (r *Renderer) load(fsys fs.FS) (map[string]map[string]*langSet, error) {
	keys, err := readDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]*langSet)
	for _, k := range keys {
		if !k.IsDir() || !validName(k.Name(), 64) {
			return nil, &TemplateError{Path: k.Name(), Err: layoutError("at the top level, only template key folders (letters, digits, '_', '-', '.')")}
		}
		langs, err := readDir(fsys, k.Name())
		if err != nil {
			return nil, err
		}
		out[k.Name()] = make(map[string]*langSet)
		for _, l := range langs {
			p := path.Join(k.Name(), l.Name())
			tag, err := language.Parse(l.Name())
			if !l.IsDir() || err != nil {
				return nil, &TemplateError{Path: p, Err: layoutError("inside a key folder, only language folders named by a BCP 47 tag")}
			}
			name := tag.String()
			if out[k.Name()][name] != nil {
				return nil, &TemplateError{Path: p, Err: layoutError("a second folder for the language " + name)}
			}
			ls := &langSet{}
			if err := r.loadLang(fsys, p, ls, 0); err != nil {
				return nil, err
			}
			if ls.email[0] == nil && ls.sms[0] == nil && (ls.email[1] != nil || ls.sms[1] != nil) {
				return nil, &TemplateError{Path: path.Join(p, dirResend), Err: missingError("a resend variant needs the first-send template of its channel beside it")}
			}
			out[k.Name()][name] = ls
		}
	}
	return out, nil
}

// loadLang reads one language folder (variant 0) or its resend folder
// (variant 1) into ls.
func (r *Renderer) loadLang(fsys fs.FS, dir string, ls *langSet, variant int) error {
	entries, err := readDir(fsys, dir)
	if err != nil {
		return err
	}
	src := map[string]string{}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		switch {
		case e.IsDir() && e.Name() == dirResend && variant == 0:
			if err := r.loadLang(fsys, p, ls, 1); err != nil {
				return err
			}
			continue
		case e.IsDir():
		case e.Name() == fileSubject || e.Name() == fileHTML || e.Name() == fileText || e.Name() == fileSMS:
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return &TemplateError{Path: p, Err: err}
			}
			src[e.Name()] = string(b)
			continue
		}
		return &TemplateError{Path: p, Err: layoutError("not a template file (subject.txt, body.html, body.txt, sms.txt) or resend folder")}
	}
	n := 0
	for _, f := range []string{fileSubject, fileHTML, fileText} {
		if _, ok := src[f]; ok {
			n++
		}
	}
	if n > 0 && n < 3 {
		return &TemplateError{Path: dir, Err: missingError("an email needs subject.txt, body.html and body.txt")}
	}
	if len(src) == 0 && (variant == 1 || ls.email[1] == nil && ls.sms[1] == nil) {
		return &TemplateError{Path: dir, Err: missingError("no template files")}
	}
	if n == 3 {
		e := &emailSet{}
		if e.subject, err = parseText(path.Join(dir, fileSubject), src[fileSubject], r.known); err != nil {
			return err
		}
		if e.html, err = parseHTML(path.Join(dir, fileHTML), src[fileHTML], r.known); err != nil {
			return err
		}
		if e.text, err = parseText(path.Join(dir, fileText), src[fileText], r.known); err != nil {
			return err
		}
		ls.email[variant] = e
	}
	if s, ok := src[fileSMS]; ok {
		if ls.sms[variant], err = parseText(path.Join(dir, fileSMS), s, r.known); err != nil {
			return err
		}
	}
	return nil
}

// readDir lists dir without the entries whose names start with a dot.
func readDir(fsys fs.FS, dir string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, &TemplateError{Path: dir, Err: err}
	}
	out := entries[:0]
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e)
		}
	}
	return out, nil
}

func validName(s string, max int) bool {
	if s == "" || len(s) > max || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

type detailError struct {
	msg string
	err error
}

func (e detailError) Error() string { return e.msg }
func (e detailError) Unwrap() error { return e.err }

func missingError(msg string) error { return detailError{msg, ErrMissingPart} }
func layoutError(msg string) error  { return detailError{msg, ErrLayout} }

// validVarName reports whether s is a variable name as the invite package
// accepts them: 1 to 64 lower-case letters, digits and underscores,
// starting with a letter.
func validVarName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
