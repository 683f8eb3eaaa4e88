// Package invitephone normalises phone numbers as people type them, for
// invite.Config.NormalizePhone, with libphonenumber's numbering plans
// (github.com/nyaruka/phonenumbers): "030 1234567" in Germany, "(415)
// 555-0100" in the United States, or any number with its international
// prefix, become E.164 ("+49301234567", "+14155550100"). Numbers that are
// not valid in their numbering plan are refused.
//
// It is a package of its own so that the invite core does not depend on
// libphonenumber's data (a few megabytes).
package invitephone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidNumber is the error of a number the normaliser refuses.
var ErrInvalidNumber = errors.New("invitephone: not a valid phone number")

// ErrUnknownRegion is New's error for a region libphonenumber does not
// know.
var ErrUnknownRegion = errors.New("invitephone: unknown region")

// New returns a function for invite.Config.NormalizePhone that reads a
// number without an international prefix as a number of region (an ISO
// 3166-1 alpha-2 code such as "DE" or "US"; "" takes only numbers with
// their international prefix, "+" or "00"), and returns it in E.164 form
// when libphonenumber finds it valid. Any other number is ErrInvalidNumber.
func New(region string) (func(string) (string, error), error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRegion, region)
	}
	return func(s string) (string, error) {
		s = strings.TrimSpace(s)
		r := region
		if r == "" {
			// No region: the number must carry its country code, after
			// "+" or the "00" most of the world dials.
			if rest, ok := strings.CutPrefix(s, "00"); ok {
				s = "+" + rest
			}
			if !strings.HasPrefix(s, "+") {
				return "", ErrInvalidNumber
			}
			r = "ZZ"
		}
		n, err := phonenumbers.Parse(s, r)
		if err != nil || !phonenumbers.IsValidNumber(n) {
			return "", ErrInvalidNumber
		}
		return phonenumbers.Format(n, phonenumbers.E164), nil
	}, nil
}
