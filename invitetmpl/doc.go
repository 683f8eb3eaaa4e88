// Package invitetmpl renders invitation messages (invite.Message) from
// templates: an email as a subject, an HTML body and a plain-text body, an
// SMS as a text body with its encoding and segment count. A template is
// chosen by the message's template key, the channel and the message's
// locale, with fallback: a message in de-AT is rendered with the de-AT
// templates, else de, else the default language (Config.DefaultLanguage,
// English unless set). Languages are matched with golang.org/x/text's
// language.Matcher, so en-GB finds en and gsw finds de.
//
//	r, err := invitetmpl.New(invitetmpl.Config{Variables: []string{"plan"}})
//	err = r.Register(hostTemplates) // an fs.FS, e.g. an embed.FS
//	subject, html, text, err := r.RenderEmail(msg)
//	sms, err := r.RenderSMS(msg) // sms.Body, sms.Encoding, sms.Segments
//
// # Default templates
//
// The renderer starts with templates for the key "invite" (DefaultKey) in
// English, German and Arabic, each with a resend variant (used when
// Message.Resend is set) and an SMS. The Arabic HTML is written right to
// left (<html lang="ar" dir="rtl">). Defaults returns them, to copy and
// adapt; Config.NoDefaults leaves them out.
//
// # Writing templates
//
// Register reads a folder tree from an fs.FS:
//
//	<key>/<lang>/subject.txt     email subject
//	<key>/<lang>/body.html       email HTML body
//	<key>/<lang>/body.txt        email plain-text body
//	<key>/<lang>/sms.txt         SMS body
//	<key>/<lang>/resend/...      the same files for a resend (optional)
//
// An email needs its three files; a language may have the email, the SMS
// or both. body.html is an html/template: every value is escaped for where
// it appears (text, attribute, URL), so a name such as "<script>" arrives
// as text. The other files are text/template and are not escaped; the
// subject is joined onto one line, and every body is trimmed of leading
// and trailing white space.
//
// Templates name variables as {{.name}}. Every message has the built-in
// ones (invite.Vars.Map): name, given_name, family_name, invite_link,
// invited_by, account_name, expires_at and code; any of them may be ""
// (a code-only invitation has no link, most have no code), so wrap the
// optional parts in {{if .code}}...{{end}}. expires_at is written for the
// language the message is rendered in (FormatTime, or Config.FormatTime):
// "May 3, 2027, 14:00 UTC" in English, "3. Mai 2027, 14:00 UTC" in
// German, "3 مايو 2027، 14:00 UTC" in Arabic, "2027-05-03 14:00 UTC" in
// any other language, in Config.Location. The host's own variables (the
// invitation's CreateInput.Variables) are declared by name in
// Config.Variables; a declared one the invitation does not set is "".
//
// Templates are checked when they are registered, not when a message is
// sent: a template that does not parse, names a variable that is neither
// built in nor declared, uses a refused construct ({{template}},
// {{define}}, {{block}}, index, call, fields of a variable) or leaves out
// a part of an email is a *TemplateError, matching ErrTemplate and
// ErrSyntax, ErrUnknownVariable, ErrConstruct or ErrMissingPart, and
// nothing of that fs.FS is registered. What a Register provides replaces,
// for each key, language, variant and channel, what was there (the
// defaults included).
//
// # Errors at send time
//
// A message whose key has no template for the channel in its language, a
// fallback of it or the default language is a *NoTemplateError
// (ErrNoTemplate). An SMS needing more segments than Config.MaxSMSSegments
// is a *SegmentsError (ErrTooManySegments). A notifier turns both into
// invite.Permanent: retrying cannot help. No error holds the link or the
// code. Pass Renderer.Keys as invite.Config.TemplateKeys so that Create
// refuses a key no template exists for.
//
// # SMS segments
//
// A body made only of GSM-7 characters (the GSM 03.38 alphabet; €, {, }, [,
// ], ~, \, |, ^ and form feed count two) travels as GSM-7: 160 characters
// in one message, 153 per part beyond. Any other character (Arabic, most
// accented letters outside Western Europe, emoji) makes the whole message
// UCS-2: 70 UTF-16 code units in one message, 67 per part. Measure counts
// them for any text.
package invitetmpl
