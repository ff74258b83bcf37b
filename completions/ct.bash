# bash completion for ct, the front-end script (the stage tools generate their own).
_ct() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
	[ "$cmd" = --dry-run ] && cmd=${COMP_WORDS[2]}
	local root=${CT_ROOT:-/var/lib/ct}
	if [ "$COMP_CWORD" -le 1 ] || { [ "${COMP_WORDS[1]}" = --dry-run ] && [ "$COMP_CWORD" -eq 2 ]; }; then
		mapfile -t COMPREPLY < <(compgen -W "--dry-run run pull images rmi import ps stop start exec logs rm inspect prune help" -- "$cur")
		return
	fi
	case $cmd in
	stop | start | exec | logs | rm | inspect)
		mapfile -t COMPREPLY < <(compgen -W "$(ls "$root/containers" 2>/dev/null)" -- "$cur") ;;
	run | rmi)
		mapfile -t COMPREPLY < <(compgen -W "$(ct-ls images -q 2>/dev/null)" -- "$cur") ;;
	import)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	esac
}
complete -F _ct ct
