package invitehttp

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestListParamsDocumented: the query parameters the list handler reads
// are those the document gives each list operation (the user's list takes
// user_id from its path), and each is a component parameter of that name.
func TestListParamsDocumented(t *testing.T) {
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc))
	queryParams := func(path string) []string {
		t.Helper()
		var op struct {
			Parameters []param `json:"parameters"`
		}
		require.NoError(t, json.Unmarshal(doc.Paths[path]["get"], &op), path)
		var out []string
		for _, p := range op.Parameters {
			if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
				p = doc.Components.Parameters[name]
				require.Equal(t, name, p.Name, "the component %s names its parameter", name)
			}
			if p.In == "query" {
				out = append(out, p.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	all := slices.Sorted(maps.Keys(listParams))
	require.Equal(t, all, queryParams("/tenants/{tenant}/invitations"))
	require.Equal(t, slices.DeleteFunc(all, func(n string) bool { return n == "user_id" }),
		queryParams("/tenants/{tenant}/users/{user}/invitations"))
}
