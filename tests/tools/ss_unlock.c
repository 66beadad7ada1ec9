/*
 * ss_unlock: unlock a gnome-keyring collection on a private test bus, with
 * its password on stdin and no prompter, so a scenario can lock the login
 * keyring under a running keyroled and unlock it again.
 *
 *   ss_unlock [COLLECTION_PATH]   default /org/freedesktop/secrets/collection/login
 *
 * The Secret Service API can only unlock through a prompt; gnome-keyring
 * has its own UnlockWithMasterPassword for that, which takes the password
 * as a Secret over a "plain" session (no encryption: test buses only).
 * This is a test driver for the peer, not part of keyrole: keyrole's own
 * D-Bus use stays in daemon/keyring_secret.c.
 * Exit status: 0 unlocked, 1 failure (one line on stderr), 2 usage.
 */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#define BUS_NAME "org.freedesktop.secrets"
#define SERVICE  "/org/freedesktop/secrets"

static GVariant *call(GDBusConnection *bus, const char *iface, const char *method, GVariant *args,
                      const GVariantType *reply, GError **error)
{
	return g_dbus_connection_call_sync(bus, BUS_NAME, SERVICE, iface, method, args, reply,
	                                   G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, error);
}

int main(int argc, char **argv)
{
	const char *coll = argc > 1 ? argv[1] : SERVICE "/collection/login";
	GDBusConnection *bus = NULL;
	GVariant *opened = NULL, *out = NULL, *done = NULL, *secret;
	GError *error = NULL;
	const char *session = NULL;
	char pw[256];
	size_t n;
	int rc = 1;

	if (argc > 2)
		return 2;
	n = fread(pw, 1, sizeof(pw) - 1, stdin);
	while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		n--;
	if (!(bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error)))
		goto out;
	opened = call(bus, "org.freedesktop.Secret.Service", "OpenSession",
	              g_variant_new("(sv)", "plain", g_variant_new_string("")),
	              G_VARIANT_TYPE("(vo)"), &error);
	if (!opened)
		goto out;
	g_variant_get(opened, "(v&o)", &out, &session);
	secret = g_variant_new(
	    "(o@ay@ays)", session, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, "", 0, 1),
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, pw, n, 1), "text/plain");
	done = call(bus, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
	            "UnlockWithMasterPassword", g_variant_new("(o@(oayays))", coll, secret), NULL,
	            &error);
	if (done)
		rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "ss_unlock: %s\n", error ? error->message : "failed");
	memset(pw, 0, sizeof(pw));
	g_clear_error(&error);
	if (done)
		g_variant_unref(done);
	if (out)
		g_variant_unref(out);
	if (opened)
		g_variant_unref(opened);
	if (bus)
		g_object_unref(bus);
	return rc;
}
