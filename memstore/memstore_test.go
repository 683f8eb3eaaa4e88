package memstore_test

import (
	"testing"

	"github.com/invitekit/invite"
	"github.com/invitekit/invite/memstore"
	"github.com/invitekit/invite/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) invite.Store { return memstore.New() })
}
