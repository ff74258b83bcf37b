# bash completion for ct, the front-end script (the stage tools generate their own).
_ct() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
	[ "$cmd" = --dry-run ] && cmd=${COMP_WORDS[2]}
	local root=${CT_ROOT:-/var/lib/ct}
	if [ "$COMP_CWORD" -le 1 ] || { [ "${COMP_WORDS[1]}" = --dry-run ] && [ "$COMP_CWORD" -eq 2 ]; }; then
		mapfile -t COMPREPLY < <(compgen -W "--dry-run run create pull images rmi import tag save ps stop start restart kill wait exec logs attach events rm inspect cp top port stats pause unpause diff export volume network prune rename version info system help" -- "$cur")
		return
	fi
	case $cmd in
	logs)
		case $cur in
		-*) mapfile -t COMPREPLY < <(compgen -W "--follow --timestamps --tail --since" -- "$cur") ;;
		*) mapfile -t COMPREPLY < <(compgen -W "$(ls "$root/containers" 2>/dev/null)" -- "$cur") ;;
		esac ;;
	events) mapfile -t COMPREPLY < <(compgen -W "--since --format --no-stream" -- "$cur") ;;
	attach | stop | start | restart | kill | wait | exec | rm | inspect | top | port | stats | pause | unpause | diff | export | rename)
		# Ids, and the names of renamed containers ($CT_ROOT/names).
		mapfile -t COMPREPLY < <(compgen -W "$(ls "$root/containers" "$root/names" 2>/dev/null | grep -v ':$')" -- "$cur") ;;
	network)
		if [ "$COMP_CWORD" -eq 2 ]; then mapfile -t COMPREPLY < <(compgen -W "create ls inspect rm" -- "$cur")
		else
			local nets=("$root"/networks/*.json)
			nets=("${nets[@]##*/}")
			mapfile -t COMPREPLY < <(compgen -W "${nets[*]%.json}" -- "$cur")
		fi ;;
	volume)
		if [ "$COMP_CWORD" -eq 2 ]; then mapfile -t COMPREPLY < <(compgen -W "create ls inspect rm prune" -- "$cur")
		else mapfile -t COMPREPLY < <(compgen -W "$(ls "$root/volumes" 2>/dev/null)" -- "$cur"); fi ;;
	run | create | rmi | tag | save)
		mapfile -t COMPREPLY < <(compgen -W "$(ct-ls images -q 2>/dev/null)" -- "$cur") ;;
	import)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	esac
}
complete -F _ct ct
