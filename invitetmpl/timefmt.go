package invitetmpl

import (
	"strconv"
	"time"

	"golang.org/x/text/language"
)

var (
	germanMonths = [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni",
		"Juli", "August", "September", "Oktober", "November", "Dezember"}
	arabicMonths = [12]string{"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
		"يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"}
)

// FormatTime is the default Config.FormatTime: t in loc as a date and a
// 24-hour time with the zone's abbreviation, written for the base
// language of lang:
//
//	en      May 3, 2027, 14:00 UTC
//	de      3. Mai 2027, 14:00 UTC
//	ar      3 مايو 2027، 14:00 UTC  (Gregorian month names, Western digits)
//	others  2027-05-03 14:00 UTC
func FormatTime(t time.Time, loc *time.Location, lang language.Tag) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	day, year := strconv.Itoa(t.Day()), strconv.Itoa(t.Year())
	clock := t.Format("15:04 MST")
	base, _ := lang.Base()
	switch base.String() {
	case "en":
		return t.Format("January") + " " + day + ", " + year + ", " + clock
	case "de":
		return day + ". " + germanMonths[t.Month()-1] + " " + year + ", " + clock
	case "ar":
		return day + " " + arabicMonths[t.Month()-1] + " " + year + "، " + clock
	}
	return t.Format("2006-01-02") + " " + clock
}
