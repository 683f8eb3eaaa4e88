package main

import (
	"encoding/json"
	"net/http"

	"github.com/invitekit/invite"
)

// bareHandler serves the three measured routes the way a host writing the
// glue by hand in a hurry might: net/http's ServeMux, the same Manager
// calls as invitehttp's and the same JSON out, but none of the adapter's
// care (no strict decoding or body limit, no problem details, no
// rate-limit reference, no security headers). Side "bare" (-bare): what
// serving the Manager over HTTP costs at the least, so that http/bare is
// the adapter's own overhead and bare/direct HTTP's.
func bareHandler(m *invite.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tenants/{tenant}/invitations", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != adminAuth {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		var in invite.CreateInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.TenantID = r.PathValue("tenant")
		res, err := m.Create(r.Context(), in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := struct {
			Invitation *invite.Invitation `json:"invitation"`
			Replayed   bool               `json:"replayed"`
			Token      string             `json:"token,omitempty"`
		}{res.Invitation, res.Replayed, res.Token.Reveal()}
		writeJSON(w, http.StatusCreated, out)
	})
	mux.HandleFunc("GET /public/invitations/{token}", func(w http.ResponseWriter, r *http.Request) {
		inv, err := m.Lookup(r.Context(), r.PathValue("token"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, inv.Public())
	})
	mux.HandleFunc("POST /public/invitations/{token}/accept", func(w http.ResponseWriter, r *http.Request) {
		sub := r.Header.Get(userHeader)
		if sub == "" {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		acc, err := m.Accept(r.Context(), r.PathValue("token"), invite.AcceptInput{Subject: sub})
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		out := struct {
			Invitation *invite.PublicInvitation `json:"invitation"`
			Replayed   bool                     `json:"replayed"`
		}{acc.Invitation.Public(), acc.Replayed}
		writeJSON(w, http.StatusOK, out)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
