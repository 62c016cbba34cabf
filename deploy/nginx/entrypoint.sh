#!/bin/sh
# Start as the upstream nginx image's entrypoint does, for the parts docker-compose.yml uses:
# source each executable /docker-entrypoint.d/*.envsh, then write each
# /etc/nginx/templates/NAME.template to /etc/nginx/conf.d/NAME with the environment's variables
# substituted (only those set, so nginx's own $variables stay).
set -eu

for script in /docker-entrypoint.d/*.envsh; do
    if [ -x "$script" ]; then
        # shellcheck disable=SC1090 # the scripts are mounted at run time
        . "$script"
    fi
done

defined=$(env | cut -d= -f1 | sed 's/.*/${&}/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    output="/etc/nginx/conf.d/$(basename "$template" .template)"
    envsubst "$defined" <"$template" >"$output"
    echo "nginx-entrypoint: wrote $output from $template" >&2
done

exec "$@"
