package invitehook

import (
	"container/list"
	"maps"
	"sync"
)

// memo remembers, for webhooks awaiting a retry, the endpoints that have
// settled them: nil for taken, the *DeliveryError for refused for good. It
// holds at most max webhooks and forgets the oldest first.
type memo struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*list.Element
	order *list.List // of *memoEntry, oldest first
}

type memoEntry struct {
	id      string
	settled map[string]error
}

func newMemo(n int) *memo {
	return &memo{max: cmp(n, DefaultRemember), byID: map[string]*list.Element{}, order: list.New()}
}

// get returns a copy of what is remembered of id (an empty map for
// nothing).
func (m *memo) get(id string) map[string]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		return maps.Clone(el.Value.(*memoEntry).settled)
	}
	return map[string]error{}
}

// put records settled as what is known of id.
func (m *memo) put(id string, settled map[string]error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		el.Value.(*memoEntry).settled = settled
		return
	}
	m.byID[id] = m.order.PushBack(&memoEntry{id: id, settled: settled})
	for m.order.Len() > m.max {
		oldest := m.order.Front()
		m.order.Remove(oldest)
		delete(m.byID, oldest.Value.(*memoEntry).id)
	}
}

// forget drops id.
func (m *memo) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		m.order.Remove(el)
		delete(m.byID, id)
	}
}
