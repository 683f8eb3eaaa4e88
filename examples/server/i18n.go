package main

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"

	"github.com/invitekit/invite/invitetmpl"
)

// The pages' languages: those of the library's default message templates.
var (
	pageLangs   = []language.Tag{language.English, language.German, language.Arabic}
	langMatcher = language.NewMatcher(pageLangs)
)

// rtlScripts are the scripts written right to left.
var rtlScripts = map[string]bool{"Arab": true, "Hebr": true, "Syrc": true, "Thaa": true, "Nkoo": true,
	"Adlm": true, "Rohg": true, "Mand": true, "Samr": true}

// locale is the language of a page: its catalog, and the lang and dir
// attributes of its <html>.
type locale struct {
	catalog map[string]string
	tag     language.Tag
	Lang    string // the lang attribute
	Dir     string // "ltr" or "rtl"
}

// localeFor picks the page language for an invitation's locale (a BCP 47
// tag, "" for none), falling back to the request's Accept-Language and
// then English. The lang attribute is the invitation's own tag when the
// pages are written in its language ("de-AT"), else the catalog's.
func localeFor(tag string, r *http.Request) locale {
	var wants []language.Tag
	if t, err := language.Parse(tag); err == nil && tag != "" {
		wants = append(wants, t)
	}
	if r != nil {
		if ts, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language")); err == nil {
			wants = append(wants, ts...)
		}
	}
	_, i, conf := langMatcher.Match(wants...)
	if conf == language.No {
		i = 0
	}
	l := locale{tag: pageLangs[i], Lang: pageLangs[i].String(), catalog: catalogs[pageLangs[i].String()]}
	if len(wants) > 0 && conf >= language.High {
		if b, _ := wants[0].Base(); b == mustBase(pageLangs[i]) {
			l.Lang = wants[0].String()
		}
	}
	l.Dir = "ltr"
	if script, _ := language.Make(l.Lang).Script(); rtlScripts[script.String()] {
		l.Dir = "rtl"
	}
	return l
}

func mustBase(t language.Tag) language.Base {
	b, _ := t.Base()
	return b
}

// T returns the text of key, formatted with args.
func (l locale) T(key string, args ...any) string {
	s, ok := l.catalog[key]
	if !ok {
		s, ok = catalogs["en"][key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Time writes t for the page's language.
func (l locale) Time(t time.Time) string { return invitetmpl.FormatTime(t, time.UTC, l.tag) }

// catalogs holds the pages' texts by language and key.
var catalogs = map[string]map[string]string{
	"en": {
		"app.name":             "Invitation example",
		"skip":                 "Skip to the content",
		"demo":                 "A demonstration of the invite library. Do not use it for real accounts.",
		"home.title":           "Invitation example server",
		"invite.title":         "Join %s",
		"invite.lead":          "%s invited %s to join %s.",
		"invite.lead.you":      "%s invited you to join %s.",
		"invite.grants":        "Accepting gives you",
		"invite.roles":         "Roles",
		"invite.groups":        "Groups",
		"invite.expires":       "The invitation is valid until %s.",
		"form.title":           "Create your account",
		"form.required":        "Fields marked * are required.",
		"form.given_name":      "Given name",
		"form.family_name":     "Family name",
		"form.email":           "Email",
		"form.email.bound":     "This invitation can only be accepted with this email address.",
		"form.details":         "More about you",
		"form.submit":          "Accept and create my account",
		"form.errors":          "Please correct the following:",
		"err.required":         "This field is required.",
		"err.email":            "Enter an email address such as name@example.com.",
		"err.email_mismatch":   "Use the email address the invitation was sent to.",
		"err.email_taken":      "An account with this email address exists already.",
		"err.too_long":         "This is too long: at most %d characters.",
		"decline.title":        "Not for you?",
		"decline.reason":       "Reason (optional)",
		"decline.submit":       "Decline the invitation",
		"closed.expired":       "This invitation has expired",
		"closed.expired.body":  "Invitations are valid for a limited time. Ask %s for a new one.",
		"closed.someone":       "the person who invited you",
		"closed.revoked":       "This invitation was withdrawn",
		"closed.revoked.body":  "%s withdrew it. If you think this is a mistake, contact them.",
		"closed.used":          "This invitation has already been used",
		"closed.used.body":     "An invitation link works only once. If you accepted it, your account exists already.",
		"closed.declined":      "You declined this invitation",
		"closed.declined.body": "We let %s know. Nothing else happens; you can close this page.",
		"closed.unknown":       "This invitation link is not valid",
		"closed.unknown.body":  "Check that you opened the whole link from the message. If it was sent again since, only the newest link works.",
		"closed.about":         "The invitation: %s invited %s to join %s.",
		"closed.about.you":     "The invitation: %s invited you to join %s.",
		"welcome.title":        "Welcome, %s",
		"welcome.body":         "Your account in %s is ready.",
		"welcome.roles":        "Your roles",
		"welcome.groups":       "Your groups",
		"welcome.none":         "none",
		"welcome.email":        "You signed up as %s.",
		"signin.title":         "You are not signed in",
		"signin.body":          "Accept an invitation to create an account.",
		"error.title":          "Something went wrong",
		"error.body":           "The server could not finish your request. Please try again in a moment.",
		"forbidden.title":      "This request was refused",
		"forbidden.body":       "The form was sent from another site. Open the invitation link again and send the form from its page.",
		"notfound.title":       "Page not found",
		"notfound.body":        "There is no page at this address.",
	},
	"de": {
		"app.name":             "Einladungsbeispiel",
		"skip":                 "Zum Inhalt springen",
		"demo":                 "Eine Vorführung der invite-Bibliothek. Nicht für echte Konten verwenden.",
		"home.title":           "Beispielserver für Einladungen",
		"invite.title":         "Willkommen bei %s",
		"invite.lead":          "%s hat %s zu %s eingeladen.",
		"invite.lead.you":      "%s hat Sie zu %s eingeladen.",
		"invite.grants":        "Mit der Annahme erhalten Sie",
		"invite.roles":         "Rollen",
		"invite.groups":        "Gruppen",
		"invite.expires":       "Die Einladung gilt bis %s.",
		"form.title":           "Konto anlegen",
		"form.required":        "Mit * markierte Felder sind Pflichtfelder.",
		"form.given_name":      "Vorname",
		"form.family_name":     "Nachname",
		"form.email":           "E-Mail",
		"form.email.bound":     "Diese Einladung kann nur mit dieser E-Mail-Adresse angenommen werden.",
		"form.details":         "Weitere Angaben",
		"form.submit":          "Annehmen und Konto anlegen",
		"form.errors":          "Bitte korrigieren Sie Folgendes:",
		"err.required":         "Dieses Feld ist ein Pflichtfeld.",
		"err.email":            "Geben Sie eine E-Mail-Adresse wie name@example.com ein.",
		"err.email_mismatch":   "Verwenden Sie die E-Mail-Adresse, an die die Einladung ging.",
		"err.email_taken":      "Mit dieser E-Mail-Adresse gibt es bereits ein Konto.",
		"err.too_long":         "Das ist zu lang: höchstens %d Zeichen.",
		"decline.title":        "Nicht für Sie?",
		"decline.reason":       "Grund (optional)",
		"decline.submit":       "Einladung ablehnen",
		"closed.expired":       "Diese Einladung ist abgelaufen",
		"closed.expired.body":  "Einladungen gelten nur eine begrenzte Zeit. Bitten Sie %s um eine neue.",
		"closed.someone":       "die Person, die Sie eingeladen hat,",
		"closed.revoked":       "Diese Einladung wurde zurückgezogen",
		"closed.revoked.body":  "%s hat sie zurückgezogen. Wenn das ein Irrtum ist, wenden Sie sich an diese Person.",
		"closed.used":          "Diese Einladung wurde bereits verwendet",
		"closed.used.body":     "Ein Einladungslink funktioniert nur einmal. Wenn Sie sie angenommen haben, besteht Ihr Konto bereits.",
		"closed.declined":      "Sie haben diese Einladung abgelehnt",
		"closed.declined.body": "Wir haben %s Bescheid gegeben. Sonst geschieht nichts; Sie können diese Seite schließen.",
		"closed.unknown":       "Dieser Einladungslink ist ungültig",
		"closed.unknown.body":  "Prüfen Sie, ob Sie den ganzen Link aus der Nachricht geöffnet haben. Wurde sie erneut gesendet, gilt nur der neueste Link.",
		"closed.about":         "Die Einladung: %s hat %s zu %s eingeladen.",
		"closed.about.you":     "Die Einladung: %s hat Sie zu %s eingeladen.",
		"welcome.title":        "Willkommen, %s",
		"welcome.body":         "Ihr Konto bei %s ist eingerichtet.",
		"welcome.roles":        "Ihre Rollen",
		"welcome.groups":       "Ihre Gruppen",
		"welcome.none":         "keine",
		"welcome.email":        "Sie haben sich als %s registriert.",
		"signin.title":         "Sie sind nicht angemeldet",
		"signin.body":          "Nehmen Sie eine Einladung an, um ein Konto anzulegen.",
		"error.title":          "Etwas ist schiefgegangen",
		"error.body":           "Der Server konnte Ihre Anfrage nicht abschließen. Bitte versuchen Sie es gleich noch einmal.",
		"forbidden.title":      "Diese Anfrage wurde abgelehnt",
		"forbidden.body":       "Das Formular wurde von einer anderen Website gesendet. Öffnen Sie den Einladungslink erneut und senden Sie das Formular von dessen Seite.",
		"notfound.title":       "Seite nicht gefunden",
		"notfound.body":        "Unter dieser Adresse gibt es keine Seite.",
	},
	"ar": {
		"app.name":             "مثال الدعوات",
		"skip":                 "انتقل إلى المحتوى",
		"demo":                 "عرض توضيحي لمكتبة invite. لا تستخدمه لحسابات حقيقية.",
		"home.title":           "خادم مثال الدعوات",
		"invite.title":         "انضم إلى %s",
		"invite.lead":          "دعا %s %s للانضمام إلى %s.",
		"invite.lead.you":      "دعاك %s للانضمام إلى %s.",
		"invite.grants":        "بقبول الدعوة تحصل على",
		"invite.roles":         "الأدوار",
		"invite.groups":        "المجموعات",
		"invite.expires":       "الدعوة صالحة حتى %s.",
		"form.title":           "أنشئ حسابك",
		"form.required":        "الحقول المميزة بعلامة * مطلوبة.",
		"form.given_name":      "الاسم الأول",
		"form.family_name":     "اسم العائلة",
		"form.email":           "البريد الإلكتروني",
		"form.email.bound":     "لا يمكن قبول هذه الدعوة إلا بعنوان البريد الإلكتروني هذا.",
		"form.details":         "معلومات إضافية",
		"form.submit":          "اقبل وأنشئ حسابي",
		"form.errors":          "يرجى تصحيح ما يلي:",
		"err.required":         "هذا الحقل مطلوب.",
		"err.email":            "أدخل عنوان بريد إلكتروني مثل name@example.com.",
		"err.email_mismatch":   "استخدم عنوان البريد الإلكتروني الذي أُرسلت إليه الدعوة.",
		"err.email_taken":      "يوجد حساب بهذا البريد الإلكتروني بالفعل.",
		"err.too_long":         "النص طويل جدًا: %d حرفًا على الأكثر.",
		"decline.title":        "ليست لك؟",
		"decline.reason":       "السبب (اختياري)",
		"decline.submit":       "ارفض الدعوة",
		"closed.expired":       "انتهت صلاحية هذه الدعوة",
		"closed.expired.body":  "الدعوات صالحة لمدة محدودة. اطلب دعوة جديدة من %s.",
		"closed.someone":       "الشخص الذي دعاك",
		"closed.revoked":       "سُحبت هذه الدعوة",
		"closed.revoked.body":  "سحبها %s. إذا كنت تظن أن هذا خطأ فتواصل معه.",
		"closed.used":          "استُخدمت هذه الدعوة من قبل",
		"closed.used.body":     "رابط الدعوة يعمل مرة واحدة فقط. إذا كنت قد قبلتها فحسابك موجود بالفعل.",
		"closed.declined":      "لقد رفضت هذه الدعوة",
		"closed.declined.body": "أبلغنا %s. لن يحدث شيء آخر، ويمكنك إغلاق هذه الصفحة.",
		"closed.unknown":       "رابط الدعوة هذا غير صالح",
		"closed.unknown.body":  "تأكد من أنك فتحت الرابط كاملًا من الرسالة. إذا أُعيد إرسالها فأحدث رابط فقط هو الصالح.",
		"closed.about":         "الدعوة: دعا %s %s للانضمام إلى %s.",
		"closed.about.you":     "الدعوة: دعاك %s للانضمام إلى %s.",
		"welcome.title":        "أهلًا بك يا %s",
		"welcome.body":         "حسابك في %s جاهز.",
		"welcome.roles":        "أدوارك",
		"welcome.groups":       "مجموعاتك",
		"welcome.none":         "لا شيء",
		"welcome.email":        "سجلت باسم %s.",
		"signin.title":         "لم تسجل الدخول",
		"signin.body":          "اقبل دعوة لإنشاء حساب.",
		"error.title":          "حدث خطأ",
		"error.body":           "تعذّر على الخادم إكمال طلبك. حاول مرة أخرى بعد قليل.",
		"forbidden.title":      "رُفض هذا الطلب",
		"forbidden.body":       "أُرسل النموذج من موقع آخر. افتح رابط الدعوة مرة أخرى وأرسل النموذج من صفحته.",
		"notfound.title":       "الصفحة غير موجودة",
		"notfound.body":        "لا توجد صفحة بهذا العنوان.",
	},
}
