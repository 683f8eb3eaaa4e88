package invitehttp

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/invitekit/invite"
)

// pointerEscaper escapes a member name as a JSON pointer's reference token
// (RFC 6901), built once: a strings.Replacer costs more to build than to
// run.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// decode reads r's JSON body into dst, strictly: Content-Type
// application/json (or a +json type), at most MaxBodyBytes, valid UTF-8,
// exactly one JSON value, every object member known to dst's type under
// its exact name and given once. An empty body is allowed when optional
// (dst stays as it is), and is 400 otherwise.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, dst any, optional bool) *problem {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return h.newProblem(kindTooLarge, "the body is larger than "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes")
		}
		return h.newProblem(kindMalformed, "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return h.newProblem(kindMalformed, "the request needs a JSON body")
	}
	if !jsonMediaType(r.Header.Get("Content-Type")) {
		return h.newProblem(kindUnsupportedMedia, "send the body as application/json")
	}
	if !utf8.Valid(body) {
		return h.newProblem(kindMalformed, "the body is not valid UTF-8")
	}
	if p := h.checkShape(body, reflect.TypeOf(dst).Elem()); p != nil {
		return p
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return h.decodeProblem(err)
	}
	return nil
}

// jsonMediaType reports whether a Content-Type is JSON.
func jsonMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// decodeProblem is the 400 of a JSON value that does not fit its field.
func (h *handler) decodeProblem(err error) *problem {
	p := h.newProblem(kindMalformed, "a value in the body has the wrong type")
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		ptr := ""
		if te.Field != "" {
			ptr = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		p.Errors = []problemField{{Pointer: ptr, Code: invite.CodeInvalidFormat, Reason: "must be " + typeWord(te.Type) + ", not " + te.Value}}
		return p
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		p.Detail = "the body is not valid JSON"
		return p
	}
	// An UnmarshalText or UnmarshalJSON of a library type (a delivery, a
	// time): its text says what was wrong, without internals.
	p.Detail = "a value in the body is not in the expected form: " + strings.TrimPrefix(err.Error(), "invite: ")
	return p
}

// typeWord names a Go type as a JSON client knows it.
func typeWord(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// checkShape walks the JSON document against t: an object member that t
// does not have (encoding/json would drop it, or match it ignoring case)
// or that appears twice is a 400 naming its pointer, and so is anything
// after the first value.
func (h *handler) checkShape(body []byte, t reflect.Type) *problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var bad []problemField
	if err := walk(dec, t, "", &bad); err != nil {
		return h.decodeProblem(&json.SyntaxError{})
	}
	if _, err := dec.Token(); err != io.EOF {
		return h.newProblem(kindMalformed, "the body must hold exactly one JSON value")
	}
	if len(bad) > 0 {
		p := h.newProblem(kindMalformed, "the body has members this endpoint does not take")
		p.Errors = bad
		return p
	}
	return nil
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walk reads one JSON value from dec, checking objects against t (nil:
// anything goes), and appends the members that do not belong to bad.
func walk(dec *json.Decoder, t reflect.Type, ptr string, bad *[]problemField) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) ||
		t.Kind() == reflect.Interface) {
		t = nil // decoded by its own rules
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			at := ptr + "/" + pointerEscaper.Replace(key)
			vt := elem
			switch {
			case seen[key]:
				*bad = append(*bad, problemField{Pointer: at, Code: invite.CodeConflict, Reason: "is given more than once"})
			case fields != nil:
				ft, ok := fields[key]
				if !ok {
					*bad = append(*bad, problemField{Pointer: at, Code: invite.CodeUnknown, Reason: "is not a member this endpoint takes"})
				}
				vt = ft
			}
			seen[key] = true
			if err := walk(dec, vt, at, bad); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walk(dec, elem, ptr+"/"+strconv.Itoa(i), bad); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields (embedded structs'
// included, as encoding/json promotes them) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := m[name]; !dup {
				m[name] = f.Type
			}
		}
	}
	add(t)
	fieldCache.Store(t, m)
	return m
}
