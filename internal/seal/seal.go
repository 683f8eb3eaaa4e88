// Package seal holds a type only the packages of this module can name. A
// method that takes a seal.Key can be called from inside the module only:
// the Manager uses it to reach abilities of the module's own stores that a
// host must not call.
package seal

// Key is the argument of sealed methods.
type Key struct{}
