// Package referencetest holds end-to-end tests, and nothing else: five
// invitation APIs that other systems offer, each rebuilt by a test host
// on top of the library (a Manager served by invitehttp) and driven over
// HTTP the way that API's own client would drive it.
//
// Each test's host glue is the whole of what a host would write: it reads
// the other API's request, calls the library's HTTP API in-process, and
// answers in the other API's shape, built from the library's responses
// and problem details. Where the glue has to do more than translate, a
// comment starting "GAP:" says what the library left to it.
package referencetest
